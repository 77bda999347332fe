// Pure logic of "Convert to HyperLoRA for ComfyUI": no ComfyUI imports, so Node's test runner checks it.
// The conversion itself runs on the server (POST /hyperlora/convert_workflow, hyperlora_core/workflows/convert.py).

/** The eleven node types of the official ComfyUI-HyperLoRA pack (bytedance), as saved in its workflows. */
export const OFFICIAL_NODE_TYPES = [
  "HyperLoRAConfig", "HyperLoRALoader", "HyperLoRAIDCond", "HyperLoRABaseCond", "HyperLoRAGenerateIDLoRA",
  "HyperLoRAGenerateBaseLoRA", "HyperLoRAApplyLoRA", "HyperLoRASaveLoRA", "HyperLoRAFaceAttr",
  "HyperLoRAUniLoader", "HyperLoRAUniGenerateIDLoRA",
];

/**
 * The official node types a workflow uses that this ComfyUI does not have (sorted, each once).
 * With the official pack installed nothing is offered: its nodes work as saved.
 * `isRegistered(type)` says whether the frontend knows a node type.
 */
export function officialTypesToConvert(workflow, isRegistered) {
  const nodes = Array.isArray(workflow?.nodes) ? workflow.nodes : [];
  const found = new Set();
  for (const node of nodes) {
    const type = node?.type;
    if (OFFICIAL_NODE_TYPES.includes(type) && !isRegistered(type)) found.add(type);
  }
  return [...found].sort();
}

/**
 * What the converter says, in the frontend's language where we have it (Settings > Comfy > Locale: "zh" or
 * "zh-TW" -> zh); English otherwise. Per-node notes come from the server, in English.
 */
export const TEXTS = {
  en: {
    buttons: ["Convert to HyperLoRA for ComfyUI", "Open without converting"], // accept, decline: what each does
    offer: (kinds) => `This workflow was made with the official ComfyUI-HyperLoRA pack (${kinds} kind(s) of its ` +
      "nodes), which is not installed, so those nodes would show as missing. Convert it to HyperLoRA for " +
      "ComfyUI? Positions, links and settings are kept; nothing is saved until you save the workflow.",
    converted: (count) => `Workflow converted: ${count} node(s) of the official HyperLoRA pack replaced by this pack's`,
    stillNeeds: "Still needs these nodes of other packs (install them to run it):",
    fromPack: (type, pack, alternative) => `${type}, from the pack ${pack}` +
      (alternative ? ` (or use ${alternative} instead)` : ""),
    runsAlone: "It runs with ComfyUI and this pack alone.",
    upgraded: (count) => `Upgraded ${count} HyperLoRA Apply to Conditioning node(s) from an earlier version`,
    upgradeWhy: "The identity now rides on the model (no ComfyUI hooks, so dynamic VRAM stays on): the model goes " +
      "through the node to the sampler. Save the workflow to keep the upgrade.",
    failed: (what) => `HyperLoRA: the workflow could not be ${what}`,
  },
  zh: {
    buttons: ["转换为 HyperLoRA for ComfyUI 节点", "不转换，直接打开"],
    offer: (kinds) => `此工作流由官方 ComfyUI-HyperLoRA 插件制作（用到其 ${kinds} 种节点），该插件未安装，这些节点会显示为缺失。` +
      "要转换为 HyperLoRA for ComfyUI 吗？节点位置、连线和设置都会保留；在你保存工作流之前不会保存任何内容。",
    converted: (count) => `工作流已转换：官方 HyperLoRA 插件的 ${count} 个节点已替换为本插件的节点`,
    stillNeeds: "仍需要以下其他插件的节点（安装后才能运行）：",
    fromPack: (type, pack, alternative) => `${type}，来自插件 ${pack}` + (alternative ? `（或改用 ${alternative}）` : ""),
    runsAlone: "只需 ComfyUI 和本插件即可运行。",
    upgraded: (count) => `已将 ${count} 个旧版本保存的 HyperLoRA Apply to Conditioning 节点升级`,
    upgradeWhy: "身份现在随模型传递（不使用 ComfyUI 钩子，动态显存保持开启）：模型需经过该节点再连到采样器。" +
      "保存工作流即可保留升级。",
    failed: (what) => `HyperLoRA：无法${what === "converted" ? "转换" : "升级"}此工作流`,
  },
};

/** The texts for a frontend locale ("zh", "zh-TW", "en", ...). */
export function textsFor(locale) {
  return TEXTS[String(locale ?? "en").toLowerCase().split("-")[0]] ?? TEXTS.en;
}

/** The question put to the user before converting. */
export function offerMessage(types, texts = TEXTS.en) {
  return texts.offer(types.length);
}

/**
 * Replace the workflow being loaded by the converted one, in place: the frontend goes on loading the
 * very object it handed to beforeConfigureGraph.
 */
export function replaceInPlace(target, converted) {
  if (!converted || !Array.isArray(converted.nodes)) throw new Error("the server sent no workflow");
  for (const key of Object.keys(target)) {
    if (!(key in converted)) delete target[key];
  }
  Object.assign(target, converted);
  return target;
}

/** A short summary of the server's report for a notification: {severity, summary, detail}. */
export function reportNotice(report, texts = TEXTS.en) {
  const replaced = report?.replaced?.length ?? 0;
  const others = report?.third_party ?? [];
  const lines = others.map((entry) => texts.fromPack(entry.type, entry.pack, entry.alternative));
  const notes = (report?.notes ?? []).map((note) => (note.node == null ? note.text : `node ${note.node}: ${note.text}`));
  const detail = [
    ...(lines.length ? [texts.stillNeeds, ...lines] : [texts.runsAlone]),
    ...(notes.length ? ["", ...notes] : []),
  ].join("\n");
  return {
    severity: lines.length ? "warn" : "success",
    summary: texts.converted(replaced),
    detail,
  };
}

/** Our node types whose saved form an earlier version of this pack wrote differently (upgraded by the server). */
export const UPGRADED_NODE_TYPES = ["HyperLoRAApplyConditioning"];

/**
 * How many nodes of the workflow were saved by an earlier version of this pack: Apply to Conditioning without
 * its model input (it gained MODEL in and out when identities stopped using core hooks).
 */
export function outdatedNodeCount(workflow) {
  const nodes = Array.isArray(workflow?.nodes) ? workflow.nodes : [];
  return nodes.filter((node) => UPGRADED_NODE_TYPES.includes(node?.type) &&
    !(Array.isArray(node.inputs) && node.inputs.some((input) => input?.name === "model"))).length;
}

/** What the user is told after an automatic upgrade: {severity, summary, detail}. */
export function upgradeNotice(report, texts = TEXTS.en) {
  const upgraded = report?.upgraded ?? [];
  return {
    severity: "info",
    summary: texts.upgraded(upgraded.length),
    detail: [
      texts.upgradeWhy,
      ...upgraded.map((entry) => `node ${entry.node}: ${entry.text}`),
    ].join("\n"),
  };
}
