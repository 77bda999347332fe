// The identity picker's thumbnail (web/js/hyperlora_identities.js) against the frontend stand-ins.
import assert from "node:assert/strict";
import { register } from "node:module";
import { after, before, test } from "node:test";

register("./stubs/comfy_loader.mjs", import.meta.url);

let extensions, api, app, identities;
const listeners = {};
const timers = [];

class FakeElement {
  constructor(tag) {
    this.tag = tag;
    this.style = {};
    this.children = [];
    this.textContent = "";
  }

  replaceChildren(...children) {
    this.children = children;
  }

  removeAttribute(name) {
    delete this[name];
  }
}

before(async () => {
  globalThis.document = { createElement: (tag) => new FakeElement(tag) };
  ({ extensions, app } = await import("./stubs/app.mjs"));
  ({ api } = await import("./stubs/api.mjs"));
  api.apiURL = (route) => `/api${route}`;
  api.addEventListener = (name, listener) => { listeners[name] = listener; };
  const realSetInterval = globalThis.setInterval;
  globalThis.setInterval = (fn, ms) => { const t = realSetInterval(fn, ms); timers.push(t); return t; };
  identities = await import("../../web/js/hyperlora_identities.js");
  extensions.find((e) => e.name === "hyperlora.identity_thumbnails").setup();
});

after(() => timers.forEach((t) => clearInterval(t)));

function loadNode(value, values = [value]) {
  const node = {
    comfyClass: identities.LOAD_NODE,
    widgets: [{ name: "identity", value, options: { values } }],
    domWidgets: [],
    addDOMWidget(name, type, element, options) {
      const widget = { name, type, element, options };
      this.domWidgets.push(widget);
      return widget;
    },
  };
  extensions.find((e) => e.name === "hyperlora.identity_thumbnails").nodeCreated(node);
  return node;
}

test("the chosen identity's face is shown, with its name escaped", () => {
  const node = loadNode("cast/alice & bob.safetensors");
  const [widget] = node.domWidgets;
  assert.equal(widget.options.serialize, false);
  const image = widget.element.children[0];
  assert.equal(image.src, "/api/hyperlora/identity_thumbnail?name=cast%2Falice%20%26%20bob.safetensors&v=0");
  node.onRemoved();
});

test("choosing another identity shows its face; a missing thumbnail says so", () => {
  const node = loadNode("a.safetensors", ["a.safetensors", "b.safetensors"]);
  const combo = node.widgets[0];
  const [image, note] = node.domWidgets[0].element.children;
  combo.value = "b.safetensors";
  combo.callback("b.safetensors");
  assert.match(image.src, /name=b\.safetensors/);
  api.fetchApi = undefined;
  image.onerror();
  assert.equal(image.style.display, "none");
  assert.equal(note.textContent, identities.NO_PICTURE_TEXT);
  assert.match(note.textContent, /Mix Identities/);
  node.onRemoved();
});

test("a missing picture shows the server's reason, unless another identity was chosen meanwhile", async () => {
  const node = loadNode("a.safetensors", ["a.safetensors", "b.safetensors"]);
  const [image, note] = node.domWidgets[0].element.children;
  const asked = [];
  api.fetchApi = async (route) => {
    asked.push(route);
    return { ok: false, json: async () => ({ error: "The identity 'a.safetensors' was not found." }) };
  };
  image.onerror();
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(asked, ["/hyperlora/identity_thumbnail?name=a.safetensors"]);
  assert.equal(note.textContent, "The identity 'a.safetensors' was not found.");
  image.onerror();  // its answer arrives after the user picked b: b's text must not be overwritten
  node.widgets[0].value = "b.safetensors";
  node.widgets[0].callback("b.safetensors");
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(note.textContent, "");
  node.onRemoved();
});

test("an empty list explains how to save an identity", () => {
  const node = loadNode(undefined, []);
  const [image, note] = node.domWidgets[0].element.children;
  assert.equal(image.style.display, "none");
  assert.match(note.textContent, /Save Identity/);
  node.onRemoved();
});

test("after Save Identity ran, every Load Identity list is refreshed", async () => {
  const node = loadNode(undefined, []);
  app.graph = { _nodes: [node] };
  api.fetchApi = async (route) => {
    api.requests.push(route);
    return { ok: true, json: async () => ({ [identities.LOAD_NODE]: { input: { required: {
      identity: ["COMBO", { options: ["new.safetensors"], multiselect: false }] } } } }) };
  };
  listeners.executed({ detail: { output: { text: ["x"] } } });
  assert.equal(api.requests.at(-1) === `/object_info/${identities.LOAD_NODE}`, false);
  listeners.executed({ detail: { output: { hyperlora_identity_saved: ["new"] } } });
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(api.requests.at(-1), `/object_info/${identities.LOAD_NODE}`);
  assert.deepEqual(node.widgets[0].options.values, ["new.safetensors"]);
  assert.equal(node.widgets[0].value, "new.safetensors");
  assert.match(node.domWidgets[0].element.children[0].src, /name=new\.safetensors&v=1/);
  node.onRemoved();
});

test("the refreshed list is read from newer servers' COMBO format too", async () => {
  const node = loadNode(undefined, []);
  app.graph = { _nodes: [node] };
  api.fetchApi = async (route) => {
    api.requests.push(route);
    return { ok: true, json: async () => ({ [identities.LOAD_NODE]: { input: { required: {
      identity: ["COMBO", { options: ["v3.safetensors"], multiselect: false }] } } } }) };
  };
  await identities.refreshIdentityLists();
  assert.deepEqual(node.widgets[0].options.values, ["v3.safetensors"]);
  assert.equal(node.widgets[0].value, "v3.safetensors");
  node.onRemoved();
});
