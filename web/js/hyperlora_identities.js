// The face of each saved identity in HyperLoRA Load Identity's picker (classic canvas and Nodes 2.0):
// an image under the identity list, from GET /hyperlora/identity_thumbnail, updated whenever the choice
// changes. After HyperLoRA Save Identity has run, every Load Identity list is refreshed, so a new
// identity can be picked without reloading the page.
import { app } from "../../../scripts/app.js";
import { api } from "../../../scripts/api.js";
import { comboOptions } from "./hyperlora_logic.js";

export const LOAD_NODE = "HyperLoRALoadIdentity";
export const THUMBNAIL_ROUTE = "/hyperlora/identity_thumbnail";
const THUMBNAIL_PX = 128;
// An identity without a stored picture is fine (a mix of identities has no single face); the server's answer
// says which case it is when it can be read.
export const NO_PICTURE_TEXT = "No face picture is stored with this identity (identities made by HyperLoRA Mix "
  + "Identities have none). It loads and works as usual.";
const POLL_MS = 1000; // catches values set without a callback (loading a workflow, the Vue renderer)

let version = 0; // bumped after a save, so an overwritten identity's face is fetched again

export function thumbnailUrl(name) {
  const route = `${THUMBNAIL_ROUTE}?name=${encodeURIComponent(name)}&v=${version}`;
  return typeof api.apiURL === "function" ? api.apiURL(route) : `/api${route}`;
}

// The server's reason (no picture stored, or the file is gone) replaces the general text while still current.
async function explainMissingPicture(name, isCurrent, note) {
  if (typeof api.fetchApi !== "function") return;
  try {
    const response = await api.fetchApi(`${THUMBNAIL_ROUTE}?name=${encodeURIComponent(name)}`);
    const reason = (await response.json())?.error;
    if (typeof reason === "string" && reason && isCurrent()) note.textContent = reason;
  } catch {
    // the general text stays: it is true for the usual case
  }
}

function identityWidget(node) {
  return node.widgets?.find((widget) => widget.name === "identity");
}

export function attachThumbnail(node) {
  const combo = identityWidget(node);
  if (!combo || typeof node.addDOMWidget !== "function") return null;
  const element = document.createElement("div");
  element.style.cssText = "display:flex;flex-direction:column;align-items:center;justify-content:center;"
    + "font:12px/1.3 sans-serif;color:#ccc;text-align:center;padding:0 6px;overflow:hidden";
  const image = document.createElement("img");
  image.alt = "face of the chosen identity";
  image.style.cssText = `max-width:100%;max-height:${THUMBNAIL_PX}px;object-fit:contain;border-radius:4px`;
  const note = document.createElement("div");
  element.replaceChildren(image, note);
  const widget = node.addDOMWidget("identity_thumbnail", "hyperlora_identity_thumbnail", element, {
    serialize: false,
    hideOnZoom: false,
    getValue: () => "",
    setValue: () => {},
    getMinHeight: () => THUMBNAIL_PX + 8,
    getMaxHeight: () => THUMBNAIL_PX + 8,
  });
  if (widget) widget.serialize = false; // display only: must not shift the node's saved widget values

  let shown = null;
  const show = (force = false) => {
    const name = combo.value;
    if (!force && name === shown) return;
    shown = name;
    if (!name) {
      image.style.display = "none";
      image.removeAttribute?.("src");
      note.textContent = "No identity saved yet: use HyperLoRA Save Identity.";
      return;
    }
    note.textContent = "";
    image.style.display = "";
    image.onerror = () => {
      image.style.display = "none";
      note.textContent = NO_PICTURE_TEXT;
      explainMissingPicture(name, () => shown === name, note);
    };
    image.src = thumbnailUrl(name);
  };
  const callback = combo.callback;
  combo.callback = function (...args) {
    const result = callback?.apply(this, args);
    show();
    return result;
  };
  const timer = setInterval(() => show(), POLL_MS);
  const onRemoved = node.onRemoved;
  node.onRemoved = function (...args) {
    clearInterval(timer);
    return onRemoved?.apply(this, args);
  };
  node.hyperloraShowThumbnail = show;
  show(true);
  return { element, image, note, show, timer };
}

function graphNodes() {
  const graph = app.graph;
  return graph?._nodes ?? graph?.nodes ?? [];
}

// After a save: fetch the new identity list and give it to every Load Identity node.
export async function refreshIdentityLists() {
  version += 1;
  const response = await api.fetchApi(`/object_info/${LOAD_NODE}`);
  if (!response.ok) throw new Error(`the server answered ${response.status}`);
  const info = await response.json();
  const values = comboOptions(info?.[LOAD_NODE]?.input?.required?.identity);
  if (!Array.isArray(values)) return;
  for (const node of graphNodes()) {
    if (node.comfyClass !== LOAD_NODE) continue;
    const combo = identityWidget(node);
    if (combo?.options) combo.options.values = values;
    if (combo && !combo.value && values.length) combo.value = values[0];
    node.hyperloraShowThumbnail?.(true);
    node.setDirtyCanvas?.(true, true);
  }
}

app.registerExtension({
  name: "hyperlora.identity_thumbnails",
  setup() {
    api.addEventListener?.("executed", ({ detail }) => {
      if (!detail?.output?.hyperlora_identity_saved) return;
      refreshIdentityLists().catch((error) => console.warn("HyperLoRA: could not refresh identities:", error));
    });
  },
  nodeCreated(node) {
    if (node.comfyClass === LOAD_NODE) attachThumbnail(node);
  },
});
