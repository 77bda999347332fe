// "Convert to HyperLoRA for ComfyUI": when a workflow being opened uses node types of the official
// ComfyUI-HyperLoRA pack that are not installed, offer to convert it (POST /hyperlora/convert_workflow).
import { app } from "../../../scripts/app.js";
import { api } from "../../../scripts/api.js";
import { offerMessage, officialTypesToConvert, replaceInPlace, reportNotice } from "./hyperlora_convert_logic.js";

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

export async function convertIfOfficial(graphData) {
  const types = officialTypesToConvert(graphData, isRegistered);
  if (!types.length || !(await ask(offerMessage(types)))) return false;
  try {
    const response = await api.fetchApi(ROUTE, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ workflow: graphData }),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.error || `the server answered ${response.status}`);
    replaceInPlace(graphData, answer.workflow);
    notify(reportNotice(answer.report));
    return true;
  } catch (error) {
    notify({ severity: "error", summary: "HyperLoRA: the workflow could not be converted", detail: error.message });
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
