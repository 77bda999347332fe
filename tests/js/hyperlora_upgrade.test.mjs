// Run with: node --test tests/js/
import assert from "node:assert/strict";
import { test } from "node:test";

import { outdatedNodeCount, upgradeNotice } from "../../web/js/hyperlora_convert_logic.js";

const input = (name) => ({ name, type: name === "model" ? "MODEL" : "CONDITIONING", link: null });

test("Apply to Conditioning nodes saved without a model input are counted as outdated", () => {
  const old = { type: "HyperLoRAApplyConditioning", inputs: [input("positive"), input("negative")] };
  const current = { type: "HyperLoRAApplyConditioning", inputs: [input("model"), input("positive")] };
  assert.equal(outdatedNodeCount({ nodes: [old, current, old, { type: "KSampler", inputs: [] }] }), 2);
  assert.equal(outdatedNodeCount({ nodes: [current] }), 0);
  assert.equal(outdatedNodeCount({ nodes: [{ type: "HyperLoRAApplyConditioning" }] }), 1); // no inputs at all
  assert.equal(outdatedNodeCount({}), 0);
  assert.equal(outdatedNodeCount(null), 0);
});

test("the upgrade notice says what changed, per node", () => {
  const notice = upgradeNotice({ upgraded: [{ node: 20, text: "the model now goes through it to KSampler (node 23)" }] });
  assert.equal(notice.severity, "info");
  assert.match(notice.summary, /Upgraded 1 HyperLoRA Apply to Conditioning/);
  assert.match(notice.detail, /dynamic VRAM stays on/);
  assert.match(notice.detail, /node 20: the model now goes through it to KSampler \(node 23\)/);
  assert.match(upgradeNotice({}).summary, /Upgraded 0/);
});
