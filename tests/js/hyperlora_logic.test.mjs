// Run with: node --test tests/js/
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  boxPercent,
  comboOptions,
  contrastRatio,
  faceCount,
  faceForKey,
  faceNumberPx,
  fitImages,
  stackingOrder,
  summarizeSetup,
} from "../../web/js/hyperlora_logic.js";

test("photos share one scale that fits the width and the height, never enlarged", () => {
  const sizes = [{ width: 1000, height: 500 }, { width: 600, height: 600 }];
  // width-bound: (404 - 4) / 1600 = 0.25 -> 250 x 125 and 150 x 150
  assert.deepEqual(fitImages(sizes, 404, 1000, 4), [{ width: 250, height: 125 }, { width: 150, height: 150 }]);
  // height-bound: 300 / 600 = 0.5
  assert.deepEqual(fitImages(sizes, 5000, 300, 4), [{ width: 500, height: 250 }, { width: 300, height: 300 }]);
  assert.deepEqual(fitImages([{ width: 100, height: 50 }], 5000, 5000), [{ width: 100, height: 50 }]);
});

test("no room or no size gives empty frames instead of NaN", () => {
  assert.deepEqual(fitImages([{ width: 100, height: 50 }], 0, 300), [{ width: 0, height: 0 }]);
  assert.deepEqual(fitImages([{ width: 0, height: 50 }, { width: 100, height: 100 }], 200, 200),
    [{ width: 0, height: 0 }, { width: 100, height: 100 }]);
});

test("a face box becomes percentages of its image, clamped to the image", () => {
  assert.deepEqual(boxPercent([100, 50, 300, 450], 1000, 500), { left: 10, top: 10, width: 20, height: 80 });
  assert.deepEqual(boxPercent([-50, -10, 100, 600], 1000, 500), { left: 0, top: 0, width: 10, height: 100 });
});

test("overlapping boxes stack largest first, so the smallest takes the click", () => {
  const boxes = [[0, 0, 100, 100], [200, 0, 300, 100], [210, 10, 240, 40], [0, 0, 500, 500]];
  assert.deepEqual(stackingOrder(boxes), [3, 0, 1, 2]);
  assert.deepEqual(stackingOrder(undefined), []);
});

const FACES = [
  { image: 0, width: 1000, height: 500, boxes: [[100, 100, 300, 400], [600, 50, 900, 450]] },
  { image: 1, width: 640, height: 640, boxes: [[0, 0, 10, 10]] },
];

test("faces are counted over all photos", () => {
  assert.equal(faceCount(FACES), 2);
  assert.equal(faceCount([]), 0);
});

test("keys: a digit picks that face, arrows step and wrap, anything else nothing", () => {
  assert.equal(faceForKey("1", 0, 3), 1);
  assert.equal(faceForKey("3", 0, 3), -1);
  assert.equal(faceForKey("ArrowRight", 2, 3), 0);
  assert.equal(faceForKey("ArrowLeft", 0, 3), 2);
  assert.equal(faceForKey("ArrowDown", -1, 3), 1); // no face chosen by index yet: steps from 0
  assert.equal(faceForKey("a", 0, 3), -1);
  assert.equal(faceForKey("0", 0, 0), -1);
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

test("list choices are read in both /object_info formats", () => {
  assert.deepEqual(comboOptions([["a", "b"], { default: "a" }]), ["a", "b"]);
  assert.deepEqual(comboOptions(["COMBO", { options: ["a", "b"], multiselect: false }]), ["a", "b"]);
  assert.equal(comboOptions(["INT", { default: 1 }]), null);
  assert.equal(comboOptions(["COMBO", {}]), null);
  assert.equal(comboOptions(undefined), null);
});

test("face numbers grow with the shown picture, as the drawn ones do (side / 25), never under 12 px", () => {
  assert.equal(faceNumberPx(1000, 500), 40);
  assert.equal(faceNumberPx(300, 600), 24);
  assert.equal(faceNumberPx(100, 80), 12);
  assert.equal(faceNumberPx(undefined, undefined), 12);
});

test("contrast ratios follow WCAG's formula", () => {
  assert.equal(contrastRatio("#000000", "#ffffff"), 21);
  assert.equal(contrastRatio("#777777", "#777777"), 1);
  assert.ok(Math.abs(contrastRatio("#767676", "#ffffff") - 4.54) < 0.01); // the known 4.5:1 grey
});
