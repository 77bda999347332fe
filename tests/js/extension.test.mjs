// The ComfyUI glue of the web extension, run against stand-ins for the frontend (tests/js/stubs).
import assert from "node:assert/strict";
import { register } from "node:module";
import { before, test } from "node:test";

register("./stubs/comfy_loader.mjs", import.meta.url);

let extensions, settings, api;

before(async () => {
  globalThis.document = { createElement: () => new FakeElement() };
  ({ extensions, settings } = await import("./stubs/app.mjs"));
  ({ api } = await import("./stubs/api.mjs"));
  await import("../../web/js/hyperlora_faces.js");
  await import("../../web/js/hyperlora_setup.js");
});

class FakeElement {
  constructor() {
    this.style = {};
    this.children = [];
    this.textContent = "";
    this.scrollHeight = 30;
  }

  replaceChildren(...children) {
    this.children = children;
  }
}

const extension = (name) => extensions.find((e) => e.name === name);

const FACES = [{ image: 0, width: 1000, height: 500, boxes: [[100, 100, 300, 400], [600, 50, 900, 450]] }];

function encodeNode() {
  class EncodeNode {}
  extension("hyperlora.face_picking").beforeRegisterNodeDef(EncodeNode, { name: "HyperLoRAEncodeFace" });
  const node = new EncodeNode();
  node.pos = [1000, 2000];
  node.size = [500, 400];
  node.widgets = [{ name: "face_selection", value: "largest" }, { name: "face_index", value: 0 }];
  node.imgs = [{ naturalWidth: 1000, naturalHeight: 500 }];
  node.setDirtyCanvas = () => {};
  return node;
}

// The 1000 x 500 image drawn at scale 0.5 in a 500 x 300 area starting at y = 100: y offset 125.
const onPreview = ([x, y]) => [x * 0.5, 125 + y * 0.5];

test("older frontends: clicking a face in the node background selects it", () => {
  const node = encodeNode();
  node.imageOffset = 100;
  node.onExecuted({ hyperlora_faces: FACES });

  assert.equal(node.onMouseDown({}, onPreview([750, 250])), true);

  assert.equal(node.widgets[0].value, "index");
  assert.equal(node.widgets[1].value, 1);
});

test("a click beside every face leaves the widgets alone", () => {
  const node = encodeNode();
  node.imageOffset = 100;
  node.onExecuted({ hyperlora_faces: FACES });

  assert.equal(node.onMouseDown({}, onPreview([500, 20])), undefined);
  assert.deepEqual(node.widgets.map((w) => w.value), ["largest", 0]);
});

test("current frontend: a click on the preview widget selects the face, a drag does not", () => {
  settings["Comfy.Node.AllowImageSizeDraw"] = false;
  const node = encodeNode();
  const preview = { name: "$$canvas-image-preview", y: 100, onPointerDown: () => true };
  node.widgets.push(preview);
  node.onExecuted({ hyperlora_faces: FACES });
  node.onDrawForeground();

  const [x, y] = onPreview([200, 250]);
  const pointer = { eDown: { canvasX: node.pos[0] + x, canvasY: node.pos[1] + y } };
  node.widgets[1].value = 5;
  assert.equal(preview.onPointerDown(pointer, node), true);
  assert.equal(node.widgets[1].value, 5); // nothing changes until the pointer is released without dragging
  pointer.onClick();

  assert.equal(node.widgets[1].value, 0);
  assert.equal(node.widgets[0].value, "index");
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
});
