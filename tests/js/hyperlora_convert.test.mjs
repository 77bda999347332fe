// Run with: node --test tests/js/
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { register } from "node:module";
import { before, test } from "node:test";

import {
  OFFICIAL_NODE_TYPES,
  offerMessage,
  officialTypesToConvert,
  replaceInPlace,
  reportNotice,
  TEXTS,
  textsFor,
  upgradeNotice,
} from "../../web/js/hyperlora_convert_logic.js";

register("./stubs/comfy_loader.mjs", import.meta.url);

// The node types of the official T2I example, in the form the official workflows save them
// (tests/data/official_nodes.json; tests/official_workflows.py builds the whole graph for the Python tests).
const forms = JSON.parse(readFileSync(new URL("../data/official_nodes.json", import.meta.url)));
const T2I_TYPES = [
  "CheckpointLoaderSimple", "HyperLoRAConfig", "HyperLoRALoader", "HyperLoRAFaceAttr", "ImpactMakeImageBatch",
  "LoadImage", "HyperLoRAIDCond", "HyperLoRAGenerateIDLoRA", "HyperLoRAApplyLoRA", "KSampler",
  "BNK_CLIPTextEncodeAdvanced", "EmptyLatentImage", "CLIPSetLastLayer", "VAEDecode", "PreviewImage",
];
const official = {
  last_node_id: T2I_TYPES.length, last_link_id: 0, links: [], groups: [], config: {}, extra: {}, version: 0.4,
  nodes: T2I_TYPES.map((type, i) => {
    const { inputs, outputs, widgets_values, size } = forms[type];
    return {
      id: i + 1, type, pos: [i * 400, 0], size, mode: 0, widgets_values,
      inputs: inputs.map(([name, kind]) => ({ name, type: kind, link: null })),
      outputs: outputs.map(([name, kind]) => ({ name, type: kind, links: [] })),
    };
  }),
};

test("the official types of a workflow are offered only when not installed", () => {
  assert.deepEqual(officialTypesToConvert(official, () => false), [
    "HyperLoRAApplyLoRA", "HyperLoRAConfig", "HyperLoRAFaceAttr", "HyperLoRAGenerateIDLoRA",
    "HyperLoRAIDCond", "HyperLoRALoader",
  ]);
  assert.deepEqual(officialTypesToConvert(official, () => true), []); // the official pack is installed
  assert.deepEqual(officialTypesToConvert({ nodes: [{ type: "KSampler" }] }, () => false), []);
  assert.deepEqual(officialTypesToConvert({}, () => false), []);
  assert.deepEqual(officialTypesToConvert(null, () => false), []);
  assert.equal(OFFICIAL_NODE_TYPES.length, 11);
  const offer = offerMessage(["HyperLoRALoader", "HyperLoRAIDCond"]);
  assert.match(offer, /official ComfyUI-HyperLoRA pack \(2 kind\(s\) of its nodes\).*Convert it/);
  assert.doesNotMatch(offer, /HyperLoRALoader|HyperLoRAIDCond/); // plain words, not internal type names
});

test("the converted workflow replaces the loaded one in place", () => {
  const loading = { nodes: [1], links: [2], extra: { ds: 1 }, stale: true };
  const same = loading;
  replaceInPlace(loading, { nodes: [3], links: [], extra: { ds: 2 }, version: 0.4 });
  assert.equal(loading, same);
  assert.deepEqual(loading, { nodes: [3], links: [], extra: { ds: 2 }, version: 0.4 });
  assert.throws(() => replaceInPlace({}, { error: "x" }), /no workflow/);
});

test("the notice lists other packs' nodes with their alternatives", () => {
  const notice = reportNotice({
    replaced: [{}, {}],
    third_party: [{ type: "FaceDetailer", pack: "ComfyUI-Impact-Pack", alternative: "HyperLoRA Face Mask" }],
    notes: [{ node: 12, text: "prompt weighting changes" }, { node: null, text: "face_selection score" }],
  });
  assert.equal(notice.severity, "warn");
  assert.equal(notice.summary, "Workflow converted: 2 node(s) of the official HyperLoRA pack replaced by this pack's");
  assert.match(notice.detail, /FaceDetailer, from the pack ComfyUI-Impact-Pack \(or use HyperLoRA Face Mask instead\)/);
  assert.match(notice.detail, /node 12: prompt weighting/);
  assert.equal(reportNotice({ replaced: [], third_party: [], notes: [] }).severity, "success");
});

// ------------------------------------------------------------ the glue, against the stand-in frontend

let extensions, api, convertIfOfficial, ACCEPT_LABEL, DECLINE_LABEL;

before(async () => {
  ({ extensions } = await import("./stubs/app.mjs"));
  ({ api } = await import("./stubs/api.mjs"));
  ({ convertIfOfficial, ACCEPT_LABEL, DECLINE_LABEL } = await import("../../web/js/hyperlora_convert.js"));
});

function answerWith(status, body) {
  const requests = [];
  api.fetchApi = async (route, options) => {
    requests.push({ route, options });
    return { ok: status < 400, status, json: async () => structuredClone(body) };
  };
  return requests;
}

test("the extension converts after the user agrees, and leaves the workflow alone otherwise", async () => {
  assert.ok(extensions.some((e) => e.name === "hyperlora.convert_official_workflows"
    && typeof e.beforeConfigureGraph === "function"));
  const converted = { nodes: [{ id: 3, type: "HyperLoRAApply" }], links: [] };
  const requests = answerWith(200, { workflow: converted, report: { replaced: [{}], third_party: [], notes: [] } });
  globalThis.confirm = () => false;
  const declined = structuredClone(official);
  assert.equal(await convertIfOfficial(declined), false);
  assert.deepEqual(declined, official);
  assert.equal(requests.length, 0);

  globalThis.confirm = () => true;
  const accepted = structuredClone(official);
  assert.equal(await convertIfOfficial(accepted), true);
  assert.deepEqual(accepted, converted);
  assert.equal(requests[0].route, "/hyperlora/convert_workflow");
  assert.deepEqual(JSON.parse(requests[0].options.body).workflow, official);
});

test("a server error leaves the workflow as it was", async () => {
  answerWith(400, { error: "This is an API-format prompt" });
  globalThis.confirm = () => true;
  const workflow = structuredClone(official);
  assert.equal(await convertIfOfficial(workflow), false);
  assert.deepEqual(workflow, official);
});

test("the question is asked in a dialog whose buttons say what they do", async () => {
  class Element {
    constructor(tag) { Object.assign(this, { tag, style: {}, children: [], attributes: {}, listeners: {} }); }
    setAttribute(name, value) { this.attributes[name] = value; }
    append(...children) { children.forEach((child) => { child.parent = this; }); this.children.push(...children); }
    addEventListener(name, listener) { this.listeners[name] = listener; }
    remove() { this.parent.children = this.parent.children.filter((child) => child !== this); }
    *walk() { yield this; for (const child of this.children) yield* child.walk(); }
  }
  const body = new Element("body");
  globalThis.document = { body, createElement: (tag) => new Element(tag) };
  globalThis.confirm = () => { throw new Error("the page's own dialog must be used"); };
  const converted = { nodes: [{ id: 3, type: "HyperLoRAApply" }], links: [] };
  answerWith(200, { workflow: converted, report: { replaced: [{}], third_party: [], notes: [] } });
  try {
    for (const [label, expected] of [[ACCEPT_LABEL, true], [DECLINE_LABEL, false]]) {
      const workflow = structuredClone(official);
      const answer = convertIfOfficial(workflow);
      await new Promise((resolve) => setTimeout(resolve, 0));
      const buttons = [...body.walk()].filter((e) => e.tag === "button");
      assert.deepEqual(buttons.map((b) => b.textContent), [DECLINE_LABEL, ACCEPT_LABEL]);
      assert.ok([...body.walk()].some((e) => e.attributes.role === "dialog"));
      buttons.find((b) => b.textContent === label).listeners.click();
      assert.equal(await answer, expected);
      assert.equal(body.children.length, 0); // the dialog is gone
    }
    const { settings } = await import("./stubs/app.mjs");
    settings["Comfy.Locale"] = "zh";
    const answer = convertIfOfficial(structuredClone(official));
    await new Promise((resolve) => setTimeout(resolve, 0));
    const labels = [...body.walk()].filter((e) => e.tag === "button").map((b) => b.textContent);
    assert.deepEqual(labels, ["不转换，直接打开", "转换为 HyperLoRA for ComfyUI 节点"]);
    const question = [...body.walk()].find((e) => e.tag === "p").textContent;
    assert.match(question, /官方 ComfyUI-HyperLoRA 插件.*6 种节点/); // the offer in Chinese too
    [...body.walk()].find((e) => e.textContent === labels[0]).listeners.click();
    assert.equal(await answer, false);
    delete settings["Comfy.Locale"];
  } finally {
    delete globalThis.document;
  }
});

test("the converter's texts follow the frontend's language: Chinese for zh and zh-TW, English otherwise", () => {
  assert.equal(textsFor("zh"), TEXTS.zh);
  assert.equal(textsFor("zh-TW"), TEXTS.zh);
  assert.equal(textsFor("fr"), TEXTS.en);
  assert.equal(textsFor(null), TEXTS.en);
  assert.deepEqual(Object.keys(TEXTS.zh).sort(), Object.keys(TEXTS.en).sort()); // nothing left in English
  const report = { replaced: [{}, {}], third_party: [{ type: "FaceDetailer", pack: "Impact Pack", alternative: null }],
    notes: [] };
  const zh = reportNotice(report, TEXTS.zh);
  assert.equal(zh.summary, "工作流已转换：官方 HyperLoRA 插件的 2 个节点已替换为本插件的节点");
  assert.match(zh.detail, /^仍需要以下其他插件的节点.*\nFaceDetailer，来自插件 Impact Pack$/s);
  assert.equal(reportNotice({ replaced: [] }, TEXTS.zh).detail, "只需 ComfyUI 和本插件即可运行。");
  assert.match(upgradeNotice({ upgraded: [{ node: 4, text: "model input added" }] }, TEXTS.zh).summary, /已将 1 个/);
  for (const texts of [TEXTS.en, TEXTS.zh]) { // no internal type names of the official pack in the offer
    assert.doesNotMatch(offerMessage(["HyperLoRAIDCond", "HyperLoRAConfig"], texts), /HyperLoRAIDCond|HyperLoRAConfig/);
  }
});
