// The ComfyUI glue of the web extension, run against stand-ins for the frontend (tests/js/stubs).
import assert from "node:assert/strict";
import { register } from "node:module";
import { before, test } from "node:test";

register("./stubs/comfy_loader.mjs", import.meta.url);

let extensions, api, app;

before(async () => {
  globalThis.document = { createElement: (tag) => new FakeElement(tag) };
  ({ extensions, app } = await import("./stubs/app.mjs"));
  ({ api } = await import("./stubs/api.mjs"));
  await import("../../web/js/hyperlora_faces.js");
  await import("../../web/js/hyperlora_setup.js");
});

// Just enough of the DOM for our widgets: a tree of elements with listeners and data attributes.
class FakeElement {
  constructor(tag = "div") {
    this.tagName = tag.toUpperCase();
    this.style = {};
    this.dataset = {};
    this.attributes = {};
    this.children = [];
    this.listeners = {};
    this.textContent = "";
    this.scrollHeight = 30;
    this.clientWidth = 400;
    this.clientHeight = 300;
  }

  replaceChildren(...children) {
    this.children = children;
  }

  append(...children) {
    this.children.push(...children);
  }

  addEventListener(type, listener) {
    (this.listeners[type] ??= []).push(listener);
  }

  dispatch(type, fields = {}) {
    const event = { ...fields, prevented: false, stopped: false };
    event.preventDefault = () => { event.prevented = true; };
    event.stopPropagation = () => { event.stopped = true; };
    for (const listener of this.listeners[type] ?? []) listener(event);
    return event;
  }

  setAttribute(name, value) {
    this.attributes[name] = value;
  }

  *walk() {
    for (const child of this.children) {
      yield child;
      yield* child.walk();
    }
  }

  querySelectorAll(selector) {
    if (selector !== "button[data-face]") throw new Error(`selector not faked: ${selector}`);
    return [...this.walk()].filter((element) => element.tagName === "BUTTON" && element.dataset.face != null);
  }
}

const extension = (name) => extensions.find((e) => e.name === name);

const FACES = [{ image: 0, width: 1000, height: 500, boxes: [[100, 100, 300, 400], [600, 50, 900, 450]],
  preview: { filename: "hyperlora_faces_0.png", subfolder: "", type: "temp" } }];

function encodeNode() {
  class EncodeNode {}
  const picking = extension("hyperlora.face_picking");
  picking.beforeRegisterNodeDef(EncodeNode, { name: "HyperLoRAEncodeFace" });
  const node = new EncodeNode();
  node.comfyClass = "HyperLoRAEncodeFace";
  node.size = [500, 400];
  node.widgets = [{ name: "face_selection", value: "largest" }, { name: "face_index", value: 0 }];
  node.setDirtyCanvas = () => {};
  node.addDOMWidget = (name, type, element, options) => {
    const widget = { name, type, element, options };
    node.widgets.push(widget);
    return widget;
  };
  picking.nodeCreated(node);
  return node;
}

const picker = (node) => node.widgets.find((w) => w.name === "face_picker");
const buttons = (node) => picker(node).element.querySelectorAll("button[data-face]");
const values = (node) => node.widgets.slice(0, 2).map((w) => w.value);

test("the Encode node gets a face picker widget that is never saved with the workflow", () => {
  const node = encodeNode();
  const widget = picker(node);
  assert.equal(widget.serialize, false);
  assert.equal(widget.options.serialize, false);
  assert.equal(buttons(node).length, 0);
  // room for the faces from the start: a node that grew after a run would cover the next node
  assert.ok(widget.options.getMinHeight() >= 150);
});

test("after a run every face is a numbered button placed by percentages of its photo", () => {
  const node = encodeNode();
  node.onExecuted({ hyperlora_faces: FACES });

  const faces = buttons(node);
  assert.deepEqual(faces.map((b) => b.textContent).sort(), ["0", "1"]);
  const face1 = faces.find((b) => b.dataset.face === "1");
  assert.match(face1.style.cssText, /left:60%;top:10%;width:30%;height:80%/);
  const image = [...picker(node).element.walk()].find((e) => e.tagName === "IMG");
  assert.match(image.src, /^\/api\/view\?filename=hyperlora_faces_0\.png&subfolder=&type=temp/);
  assert.ok(picker(node).options.getMinHeight() >= 150);
});

test("a click on a face button selects that face and highlights it", () => {
  const node = encodeNode();
  node.onExecuted({ hyperlora_faces: FACES });
  const face1 = buttons(node).find((b) => b.dataset.face === "1");

  const down = face1.dispatch("pointerdown");
  face1.dispatch("click");

  assert.equal(down.stopped, true); // the press must not start a node drag in Nodes 2.0
  assert.deepEqual(values(node), ["index", 1]);
  assert.equal(face1.attributes["aria-pressed"], "true");
});

test("digits and arrows pick a face from the keyboard; other keys pass through", () => {
  const node = encodeNode();
  node.onExecuted({ hyperlora_faces: FACES });
  const element = picker(node).element;

  assert.equal(element.dispatch("keydown", { key: "1" }).prevented, true);
  assert.deepEqual(values(node), ["index", 1]);
  element.dispatch("keydown", { key: "ArrowRight" });
  assert.deepEqual(values(node), ["index", 0]);
  const other = element.dispatch("keydown", { key: "5" });
  assert.equal(other.prevented || other.stopped, false);
  assert.deepEqual(values(node), ["index", 0]);
});

test("typing a face_index moves the highlight", () => {
  const node = encodeNode();
  node.onExecuted({ hyperlora_faces: FACES });
  node.widgets[0].value = "index";
  node.widgets[1].value = 1;
  node.widgets[1].callback(1);
  assert.equal(buttons(node).find((b) => b.dataset.face === "1").attributes["aria-pressed"], "true");
  assert.equal(buttons(node).find((b) => b.dataset.face === "0").attributes["aria-pressed"], "false");
});

test("an output without previews (an older server) shows the images list instead", () => {
  const node = encodeNode();
  const { preview, ...withoutPreview } = FACES[0];
  node.onExecuted({ hyperlora_faces: [withoutPreview], images: [preview] });
  assert.equal(buttons(node).length, 2);
});

test("loader nodes show missing files with their folder; one request serves all nodes", async () => {
  api.report = {
    variants: [], clip: null,
    items: [{ component: "antelopev2", name: "glintr100.onnx", status: "missing",
              folder: "/models/insightface/models/antelopev2", hint: "" }],
  };
  const widgets = [];
  const makeNode = (comfyClass) => ({
    comfyClass,
    setDirtyCanvas() {},
    addDOMWidget(name, type, element, options) {
      const widget = { name, element, options };
      widgets.push(widget);
      return widget;
    },
  });
  const setup = extension("hyperlora.setup_status");
  setup.nodeCreated(makeNode("HyperLoRAFaceAnalyzerLoader"));
  setup.nodeCreated(makeNode("HyperLoRACheckpointLoader"));
  setup.nodeCreated(makeNode("KSampler"));
  await new Promise((resolve) => setTimeout(resolve, 10));

  assert.equal(widgets.length, 2);
  assert.ok(widgets.every((w) => w.options.serialize === false && w.serialize === false));
  const texts = (w) => w.element.children.map((child) => child.textContent);
  assert.ok(texts(widgets[0]).includes("\u2717 missing glintr100.onnx -> put it in /models/insightface/models/antelopev2"));
  assert.deepEqual(api.requests, ["/hyperlora/setup"]);

  // Readable: 12 px or more on its own dark panel, every colour at WCAG's 4.5:1, and a "check again" button
  // styled in full (Nodes 2.0 resets buttons to transparent) with room for it below the lines.
  const { STATUS_STYLE } = await import("../../web/js/hyperlora_setup.js");
  const { contrastRatio } = await import("../../web/js/hyperlora_logic.js");
  const element = widgets[0].element;
  assert.ok(STATUS_STYLE.fontPx >= 12);
  assert.match(element.style.cssText, new RegExp(`font-size:${STATUS_STYLE.fontPx}px.*background:${STATUS_STYLE.panel}`));
  for (const colour of ["ok", "missing", "neutral", "link"]) {
    assert.ok(contrastRatio(STATUS_STYLE[colour], STATUS_STYLE.panel) >= 4.5, colour);
  }
  assert.equal(element.children.at(-2).style.color, STATUS_STYLE.missing);
  const again = element.children.at(-1);
  assert.equal(again.textContent, "check again");
  assert.match(again.style.cssText, new RegExp(`font:${STATUS_STYLE.fontPx}px.*color:${STATUS_STYLE.link};`
    + `background:#2a2a2a;border:1px solid ${STATUS_STYLE.link}`));
  assert.ok(widgets[0].options.getMinHeight() >= 10 + 15 * element.children.length);
});

test("the node's text is the one that came with the result it returned, and a failed run clears it", () => {
  const node = encodeNode();
  const hint = () => picker(node).element.children[0].textContent;
  node.onExecuted({ hyperlora_faces: FACES, hyperlora_summary: ["Used 1 of 1 photo(s) (photo 1: face 0)."] });
  assert.match(hint(), /^Used 1 of 1 photo\(s\) \(photo 1: face 0\)\. Click a face/);
  // The same node answered from ComfyUI's cache with an older result: its own text, not the last one shown.
  node.onExecuted({ hyperlora_faces: FACES, hyperlora_summary: ["Used 1 of 2 photo(s) (photo 2: face 1)."] });
  assert.match(hint(), /^Used 1 of 2 photo\(s\) \(photo 2: face 1\)\./);
  const listeners = {};
  api.addEventListener = (name, listener) => { listeners[name] = listener; };
  extension("hyperlora.face_picking").setup();
  app.graph = { getNodeById: (id) => (id === 7 ? node : null) };
  listeners.execution_error({ detail: { node_id: 7 } });
  assert.equal(buttons(node).length, 0);
  assert.match(hint(), /stopped with an error/);
  delete api.addEventListener;
  delete app.graph;
});

test("face numbers are sized with the shown picture", () => {
  const node = encodeNode();
  node.onExecuted({ hyperlora_faces: FACES }); // 1000 x 500 in a 320 px high area without a measured width
  const frame = picker(node).element.children[1].children[0];
  const expected = Math.max(12, Math.round(Math.max(parseFloat(frame.style.width), parseFloat(frame.style.height)) / 25));
  assert.ok(expected > 12, `a big picture gets bigger numbers (${frame.style.width} x ${frame.style.height})`);
  for (const button of buttons(node)) assert.equal(button.style.fontSize, `${expected}px`);
});
