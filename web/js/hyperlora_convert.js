// "Convert to HyperLoRA for ComfyUI": when a workflow being opened uses node types of the official
// ComfyUI-HyperLoRA pack that are not installed, offer to convert it (POST /hyperlora/convert_workflow).
import { app } from "../../../scripts/app.js";
import { api } from "../../../scripts/api.js";
import {
  offerMessage, officialTypesToConvert, outdatedNodeCount, replaceInPlace, reportNotice, upgradeNotice,
} from "./hyperlora_convert_logic.js";

const ROUTE = "/hyperlora/convert_workflow";

function isRegistered(type) {
  const registered = globalThis.LiteGraph?.registered_node_types;
  return registered ? type in registered : false; // unknown: our pack never registers these names
}

async function ask(message) {
  const dialog = app.extensionManager?.dialog;
  if (typeof dialog?.confirm === "function") {
    return Boolean(await dialog.confirm({ title: "HyperLoRA", message, type: "default" }));
  }
  return globalThis.confirm ? globalThis.confirm(message) : false;
}

function notify({ severity, summary, detail }) {
  const toast = app.extensionManager?.toast;
  if (typeof toast?.add === "function") {
    toast.add({ severity, summary, detail, life: severity === "error" ? undefined : 15000 });
  } else {
    console[severity === "error" ? "error" : "info"](`[HyperLoRA] ${summary}\n${detail}`);
  }
}

// Official nodes are converted after asking; our own nodes saved by an earlier version are upgraded without
// asking (nothing is saved until the user saves). One server call does both.
export async function convertIfOfficial(graphData) {
  const types = officialTypesToConvert(graphData, isRegistered);
  const outdated = outdatedNodeCount(graphData);
  if (types.length && !(await ask(offerMessage(types)))) return false;
  if (!types.length && !outdated) return false;
  try {
    const response = await api.fetchApi(ROUTE, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ workflow: graphData }),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.error || `the server answered ${response.status}`);
    replaceInPlace(graphData, answer.workflow);
    notify(types.length ? reportNotice(answer.report) : upgradeNotice(answer.report));
    return true;
  } catch (error) {
    const what = types.length ? "converted" : "upgraded";
    notify({ severity: "error", summary: `HyperLoRA: the workflow could not be ${what}`, detail: error.message });
    return false;
  }
}

app.registerExtension({
  name: "hyperlora.convert_official_workflows",
  // Called (and awaited) by the 1.2x and 1.5x frontends before a loaded workflow is configured.
  async beforeConfigureGraph(graphData) {
    await convertIfOfficial(graphData);
  },
});
