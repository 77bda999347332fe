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
    "ID similarity (ArcFace cosine) of 2 image(s): 0.812, 0.000 (no face found)", "\u2605 image 1: 0.812",
    "image 2: 0.000 (no face found)"]);
  assert.equal(widget.element.children[1].style.fontWeight, "bold"); // the best image, marked
  assert.equal(widget.element.children[2].style.color, "#999");
  assert.equal(widget.element.children[2].style.fontWeight, undefined);
  node.onExecuted({});
  assert.deepEqual(widget.element.children, []);
});

test("the best image's line is marked, faceless images are grey", () => {
  const lines = likeness.scoreLines([
    "ID similarity (ArcFace cosine) of 3 image(s): 0.412, 0.000 (no face found), 0.633; best: image 3 (0.633)",
    "image 1: 0.412",
    "image 2: 0.000 (no face found)",
    "image 3: 0.633",
  ]);
  assert.deepEqual(lines.map((line) => line.best), [false, false, false, true]);
  assert.equal(lines[3].text, "\u2605 image 3: 0.633");
  assert.equal(lines[1].text, "image 1: 0.412");
  assert.equal(lines[2].colour, "#999");
});

test("negative scores rank too, and nothing is marked without a face", () => {
  assert.deepEqual(likeness.scoreLines(["image 1: -0.200", "image 2: -0.050"]).map((line) => line.best), [false, true]);
  assert.deepEqual(likeness.scoreLines(["image 1: 0.000 (no face found)"]).map((line) => line.best), [false]);
  assert.deepEqual(likeness.scoreLines(null), []);
});
