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

/** The question put to the user before converting. */
export function offerMessage(types) {
  return (
    `This workflow was made with the official ComfyUI-HyperLoRA pack (${types.length} kind(s) of its nodes), ` +
    "which is not installed, so those nodes would show as missing. Convert it to HyperLoRA for ComfyUI? " +
    "Positions, links and settings are kept; nothing is saved until you save the workflow."
  );
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
export function reportNotice(report) {
  const replaced = report?.replaced?.length ?? 0;
  const others = report?.third_party ?? [];
  const lines = others.map((entry) => {
    const instead = entry.alternative ? ` (or use ${entry.alternative} instead)` : "";
    return `${entry.type}, from the pack ${entry.pack}${instead}`;
  });
  const notes = (report?.notes ?? []).map((note) => (note.node == null ? note.text : `node ${note.node}: ${note.text}`));
  const detail = [
    ...(lines.length ? ["Still needs these nodes of other packs (install them to run it):", ...lines]
      : ["It runs with ComfyUI and this pack alone."]),
    ...(notes.length ? ["", ...notes] : []),
  ].join("\n");
  return {
    severity: lines.length ? "warn" : "success",
    summary: `Workflow converted: ${replaced} node(s) of the official HyperLoRA pack replaced by this pack's`,
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
export function upgradeNotice(report) {
  const upgraded = report?.upgraded ?? [];
  return {
    severity: "info",
    summary: `Upgraded ${upgraded.length} HyperLoRA Apply to Conditioning node(s) from an earlier version`,
    detail: [
      "The identity now rides on the model (no ComfyUI hooks, so dynamic VRAM stays on): the model goes " +
        "through the node to the sampler. Save the workflow to keep the upgrade.",
      ...upgraded.map((entry) => `node ${entry.node}: ${entry.text}`),
    ].join("\n"),
  };
}
