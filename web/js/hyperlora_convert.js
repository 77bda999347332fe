// "Convert to HyperLoRA for ComfyUI": when a workflow being opened uses node types of the official
// ComfyUI-HyperLoRA pack that are not installed, offer to convert it (POST /hyperlora/convert_workflow).
import { app } from "../../../scripts/app.js";
import { api } from "../../../scripts/api.js";
import {
  offerMessage, officialTypesToConvert, outdatedNodeCount, replaceInPlace, reportNotice, textsFor, upgradeNotice,
} from "./hyperlora_convert_logic.js";

const ROUTE = "/hyperlora/convert_workflow";

function isRegistered(type) {
  const registered = globalThis.LiteGraph?.registered_node_types;
  return registered ? type in registered : false; // unknown: our pack never registers these names
}

export const [ACCEPT_LABEL, DECLINE_LABEL] = textsFor("en").buttons;

// The frontend's language (Settings > Comfy > Locale): the dialog and the toasts follow it where we have it.
function locale() {
  return String(app.extensionManager?.setting?.get?.("Comfy.Locale") ?? "en").toLowerCase();
}

// A dialog of our own: the frontend's confirm dialog labels its button "Confirm" and takes no other label,
// and the user should read what the button does. Without a page (tests) the browser's confirm() asks.
async function ask(message, [acceptLabel, declineLabel]) {
  const body = globalThis.document?.body;
  if (typeof body?.append !== "function") return globalThis.confirm ? globalThis.confirm(message) : false;
  return new Promise((resolve) => {
    const overlay = document.createElement("div");
    overlay.style.cssText = "position:fixed;inset:0;z-index:10000;display:flex;align-items:center;"
      + "justify-content:center;background:rgba(0,0,0,0.5)";
    const box = document.createElement("div");
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-modal", "true");
    box.setAttribute("aria-label", "HyperLoRA: convert this workflow?");
    box.style.cssText = "max-width:520px;margin:16px;padding:16px 20px;border-radius:8px;background:#222;"
      + "color:#eee;font:14px/1.45 sans-serif;box-shadow:0 8px 32px rgba(0,0,0,0.6)";
    const title = document.createElement("div");
    title.textContent = "HyperLoRA";
    title.style.cssText = "font-weight:bold;margin-bottom:8px";
    const text = document.createElement("p");
    text.textContent = message;
    text.style.cssText = "margin:0 0 16px";
    const row = document.createElement("div");
    row.style.cssText = "display:flex;gap:12px;justify-content:flex-end;flex-wrap:wrap";
    const finish = (answer) => {
      overlay.remove();
      resolve(answer);
    };
    const button = (label, answer, primary) => {
      const element = document.createElement("button");
      element.type = "button";
      element.textContent = label;
      element.style.cssText = "padding:6px 14px;border-radius:6px;cursor:pointer;font:14px sans-serif;"
        + (primary ? "background:#2b6cb0;color:#fff;border:1px solid #2b6cb0" : "background:#333;color:#eee;"
          + "border:1px solid #666");
      element.addEventListener("click", () => finish(answer));
      return element;
    };
    const accept = button(acceptLabel, true, true);
    row.append(button(declineLabel, false, false), accept);
    box.append(title, text, row);
    overlay.append(box);
    overlay.addEventListener("keydown", (event) => {
      if (event.key === "Escape") finish(false);
    });
    body.append(overlay);
    accept.focus?.();
  });
}

function notify({ severity, summary, detail }) {
  const toast = app.extensionManager?.toast;
  if (typeof toast?.add === "function") {
    toast.add({ severity, summary, detail, life: severity === "error" ? undefined : 15000 });
  } else {
    console[severity === "error" ? "error" : "info"](`[HyperLoRA] ${summary}\n${detail}`);
  }
}

// Official nodes are converted after asking; our own nodes saved by an earlier version are upgraded without
// asking (nothing is saved until the user saves). One server call does both.
export async function convertIfOfficial(graphData) {
  const types = officialTypesToConvert(graphData, isRegistered);
  const outdated = outdatedNodeCount(graphData);
  const texts = textsFor(locale());
  if (types.length && !(await ask(offerMessage(types, texts), texts.buttons))) return false;
  if (!types.length && !outdated) return false;
  try {
    const response = await api.fetchApi(ROUTE, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ workflow: graphData }),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.error || `the server answered ${response.status}`);
    replaceInPlace(graphData, answer.workflow);
    notify(types.length ? reportNotice(answer.report, texts) : upgradeNotice(answer.report, texts));
    return true;
  } catch (error) {
    notify({ severity: "error", summary: texts.failed(types.length ? "converted" : "upgraded"), detail: error.message });
    return false;
  }
}

app.registerExtension({
  name: "hyperlora.convert_official_workflows",
  // Called (and awaited) by the 1.2x and 1.5x frontends before a loaded workflow is configured.
  async beforeConfigureGraph(graphData) {
    await convertIfOfficial(graphData);
  },
});
