// Run with: node --test tests/js/
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  boxAt,
  facesForImage,
  imageToNode,
  nodeToImage,
  onPreviewButton,
  pickFace,
  previewImageRect,
  summarizeSetup,
} from "../../web/js/hyperlora_logic.js";

test("a wide image is fitted to the node width and centred vertically below the widgets", () => {
  const rect = previewImageRect({ nodeWidth: 400, nodeHeight: 500, top: 100, imageWidth: 800, imageHeight: 400 });
  // scale 0.5 -> 400 x 200, in a 400 x 400 area starting at y = 100
  assert.deepEqual(rect, { x: 0, y: 200, width: 400, height: 200 });
});

test("a small image is never enlarged and the caption strip is kept free", () => {
  const rect = previewImageRect({
    nodeWidth: 300, nodeHeight: 415, top: 100, bottomReserve: 15, imageWidth: 100, imageHeight: 50,
  });
  assert.deepEqual(rect, { x: 100, y: 100 + (300 - 50) / 2, width: 100, height: 50 });
});

test("no room for the preview gives no rectangle", () => {
  assert.equal(previewImageRect({ nodeWidth: 300, nodeHeight: 90, top: 100, imageWidth: 10, imageHeight: 10 }), null);
});

test("node and image coordinates map both ways", () => {
  const rect = { x: 10, y: 20, width: 200, height: 100 };
  assert.deepEqual(nodeToImage([110, 70], rect, 1000, 500), [500, 250]);
  assert.deepEqual(imageToNode([500, 250], rect, 1000, 500), [110, 70]);
  const [x, y] = nodeToImage(imageToNode([123, 456], rect, 1000, 500), rect, 1000, 500);
  assert.ok(Math.abs(x - 123) < 1e-9 && Math.abs(y - 456) < 1e-9);
  assert.equal(nodeToImage([5, 70], rect, 1000, 500), null);
  assert.equal(nodeToImage([110, 121], rect, 1000, 500), null);
});

test("the box under the point is picked; overlapping boxes prefer the smallest", () => {
  const boxes = [[0, 0, 100, 100], [200, 0, 300, 100], [210, 10, 240, 40]];
  assert.equal(boxAt(boxes, [50, 50]), 0);
  assert.equal(boxAt(boxes, [250, 80]), 1);
  assert.equal(boxAt(boxes, [220, 20]), 2);
  assert.equal(boxAt(boxes, [150, 50]), -1);
  assert.equal(boxAt([], [1, 1]), -1);
});

const FACES = [
  { image: 0, width: 1000, height: 500, boxes: [[100, 100, 300, 400], [600, 50, 900, 450]] },
  { image: 1, width: 640, height: 640, boxes: [[0, 0, 10, 10]] },
];

test("faces are looked up per input image", () => {
  assert.equal(facesForImage(FACES, 1).width, 640);
  assert.equal(facesForImage(FACES, 2), null);
  assert.equal(facesForImage(undefined, 0), null);
});

test("a click on the preview picks the face under it", () => {
  // 1000 x 500 image in a 500-wide node: scale 0.5, drawn at y = top + (300 - 250) / 2 = 125
  const layout = { faces: FACES, imageIndex: 0, nodeWidth: 500, nodeHeight: 400, top: 100 };
  const toNode = ([x, y]) => [x * 0.5, 125 + y * 0.5];
  assert.equal(pickFace({ ...layout, point: toNode([200, 250]) }), 0);
  assert.equal(pickFace({ ...layout, point: toNode([750, 250]) }), 1);
  assert.equal(pickFace({ ...layout, point: toNode([500, 250]) }), -1);
  assert.equal(pickFace({ ...layout, point: [250, 110] }), -1); // above the image
  assert.equal(pickFace({ ...layout, imageIndex: 5, point: toNode([200, 250]) }), -1);
});

test("the frontend's image buttons win over a face under them when several images are shown", () => {
  const wide = [{ image: 0, width: 1000, height: 500, boxes: [[0, 0, 1000, 500]] }];
  const layout = { faces: wide, imageIndex: 0, nodeWidth: 500, nodeHeight: 400, top: 100 };
  const underCloseButton = [475, 130]; // "x" button: x 460..490, y 110..140; the image spans y 125..375
  assert.equal(onPreviewButton(underCloseButton, layout), true);
  assert.equal(onPreviewButton([475, 375], layout), true); // "n/N" button: y 360..390
  assert.equal(onPreviewButton([250, 250], layout), false);
  assert.equal(pickFace({ ...layout, point: underCloseButton, imageCount: 2 }), -1);
  assert.equal(pickFace({ ...layout, point: underCloseButton, imageCount: 1 }), 0);
});

test("a downscaled preview file is mapped to the original image's boxes", () => {
  // the browser loaded a 500 x 250 preview of the 1000 x 500 image: same drawn rectangle
  const layout = { faces: FACES, imageIndex: 0, nodeWidth: 500, nodeHeight: 400, top: 100 };
  const point = [750 * 0.5, 125 + 250 * 0.5];
  assert.equal(pickFace({ ...layout, point, displayed: { width: 500, height: 250 } }), 1);
});

const REPORT = {
  ok: false,
  variants: ["sdxl_hyper_id_lora_v1_fidelity"],
  clip: null,
  items: [
    { component: "hyper_lora", name: "resampler.safetensors", status: "found", folder: "/m/hyper_lora/hyper_lora/v" },
    { component: "hyper_lora", name: "base_resampler.safetensors", status: "optional-missing", folder: "/m/x" },
    { component: "antelopev2", name: "scrfd_10g_bnkps.onnx", status: "found", folder: "/m/insightface/models/antelopev2" },
    { component: "antelopev2", name: "glintr100.onnx", status: "missing", folder: "/m/insightface/models/antelopev2",
      hint: "Source: antelopev2.zip" },
    { component: "antelopev2", name: "genderage.onnx", status: "optional-missing", folder: "/m/insightface/models/antelopev2" },
    { component: "clip", name: "model.safetensors", status: "damaged", folder: "/m/hyper_lora/clip_vit/c",
      hint: "truncated; download again" },
  ],
};

test("setup summary: installed variants are one line", () => {
  assert.deepEqual(summarizeSetup(REPORT, ["hyper_lora"]), {
    ok: true, lines: [{ ok: true, text: "HyperLoRA checkpoint: sdxl_hyper_id_lora_v1_fidelity" }],
  });
});

test("setup summary: a missing file names its exact folder and where it comes from", () => {
  const summary = summarizeSetup(REPORT, ["antelopev2"]);
  assert.equal(summary.ok, false);
  assert.deepEqual(summary.lines.map((line) => line.text), [
    "missing glintr100.onnx -> put it in /m/insightface/models/antelopev2",
    "Source: antelopev2.zip",
  ]);
});

test("setup summary: several missing files of one folder share one line", () => {
  const missing = (name) => ({ component: "antelopev2", name, status: "missing", folder: "/m/af", hint: "" });
  const report = { items: [missing("scrfd_10g_bnkps.onnx"), missing("2d106det.onnx"), missing("glintr100.onnx")] };
  assert.deepEqual(summarizeSetup(report, ["antelopev2"]).lines.map((line) => line.text), [
    "missing scrfd_10g_bnkps.onnx, 2d106det.onnx, glintr100.onnx -> put them in /m/af",
  ]);
});

test("setup summary: damaged files are shown with the reason", () => {
  const summary = summarizeSetup(REPORT, ["clip"]);
  assert.deepEqual(summary.lines, [{ ok: false, text: "damaged model.safetensors: truncated; download again" }]);
});

test("setup summary: complete face models are summarised by folder", () => {
  const report = { ...REPORT, items: REPORT.items.filter((item) => item.name !== "glintr100.onnx") };
  assert.deepEqual(summarizeSetup(report, ["antelopev2"]).lines, [
    { ok: true, text: "Face models (antelopev2): found in /m/insightface/models/antelopev2" },
  ]);
});
