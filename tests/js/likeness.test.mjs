// The Likeness scores on the node (web/js/hyperlora_likeness.js) against the frontend stand-ins.
import assert from "node:assert/strict";
import { register } from "node:module";
import { before, test } from "node:test";

register("./stubs/comfy_loader.mjs", import.meta.url);

let extensions, likeness;

class FakeElement {
  constructor() {
    this.style = {};
    this.children = [];
    this.textContent = "";
  }

  replaceChildren(...children) {
    this.children = children;
  }
}

before(async () => {
  globalThis.document = { createElement: () => new FakeElement() };
  ({ extensions } = await import("./stubs/app.mjs"));
  likeness = await import("../../web/js/hyperlora_likeness.js");
});

test("the node shows the summary and one line per image after it ran", () => {
  let earlier = 0;
  const node = {
    comfyClass: likeness.LIKENESS_NODE,
    widgets: [],
    onExecuted() { earlier += 1; },
    addDOMWidget(name, type, element, options) {
      const widget = { name, type, element, options };
      this.widgets.push(widget);
      return widget;
    },
  };
  extensions.find((e) => e.name === "hyperlora.likeness_scores").nodeCreated(node);
  node.onExecuted({ text: ["ID similarity (ArcFace cosine) of 2 image(s): 0.812, 0.000 (no face found)",
    "image 1: 0.812", "image 2: 0.000 (no face found)"], images: [] });
  const [widget] = node.widgets;
  assert.equal(earlier, 1);
  assert.equal(widget.options.serialize, false);
  assert.deepEqual(widget.element.children.map((row) => row.textContent), [
    "ID similarity (ArcFace cosine) of 2 image(s): 0.812, 0.000 (no face found)", "image 1: 0.812",
    "image 2: 0.000 (no face found)"]);
  assert.equal(widget.element.children[2].style.color, "#999");
  node.onExecuted({});
  assert.deepEqual(widget.element.children, []);
});
