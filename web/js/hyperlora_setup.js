// Setup status on the HyperLoRA loader nodes: which model files are installed and, for each
// missing one, the exact folder it belongs in. Data comes from GET /hyperlora/setup.
import { app } from "../../../scripts/app.js";
import { api } from "../../../scripts/api.js";
import { summarizeSetup } from "./hyperlora_logic.js";

// Loader node class -> the parts of the setup report it depends on.
const SETUP_NODES = {
  HyperLoRACheckpointLoader: ["hyper_lora"],
  HyperLoRAFaceAnalyzerLoader: ["antelopev2"],
  HyperLoRACLIPVisionLoader: ["clip"],
};

let pendingReport = null;

// One request per page load shared by every loader node; "check again" asks anew.
function fetchReport(refresh = false) {
  if (!pendingReport || refresh) {
    pendingReport = api.fetchApi("/hyperlora/setup").then((response) => {
      if (!response.ok) throw new Error(`the server answered ${response.status}`);
      return response.json();
    });
    pendingReport.catch(() => { pendingReport = null; });
  }
  return pendingReport;
}

function line(text, color) {
  const row = document.createElement("div");
  row.textContent = text;
  row.style.color = color;
  row.style.overflowWrap = "anywhere";
  return row;
}

async function showStatus(node, element, components, refresh) {
  element.replaceChildren(line("Checking model files...", "#999"));
  let rows;
  try {
    const summary = summarizeSetup(await fetchReport(refresh), components);
    rows = summary.lines.map((entry) => line(`${entry.ok ? "\u2713" : "\u2717"} ${entry.text}`,
      entry.ok ? "#8c8" : "#f88"));
  } catch (error) {
    rows = [line(`Could not check the model files: ${error.message}`, "#f88")];
  }
  const again = document.createElement("button");
  again.textContent = "check again";
  again.style.cssText = "margin-top:2px;font-size:10px;cursor:pointer";
  again.onclick = () => showStatus(node, element, components, true);
  element.replaceChildren(...rows, again);
  const needed = node.computeSize?.()?.[1]; // grow the node so every line shows; never shrink it
  if (needed > node.size?.[1]) node.setSize?.([node.size[0], needed]);
  node.setDirtyCanvas?.(true, true);
}

app.registerExtension({
  name: "hyperlora.setup_status",
  nodeCreated(node) {
    const components = SETUP_NODES[node.comfyClass];
    if (!components || !node.addDOMWidget) return;
    const element = document.createElement("div");
    element.style.cssText = "font-size:10px;line-height:1.3;font-family:sans-serif;overflow:auto";
    const widget = node.addDOMWidget("setup_status", "hyperlora_setup_status", element, {
      serialize: false,
      hideOnZoom: true,
      getValue: () => "",
      setValue: () => {},
      getMinHeight: () => Math.min(10 + 15 * Math.max(element.children.length, 1), 160),
    });
    widget.serialize = false; // status only: must not shift the node's saved widget values
    showStatus(node, element, components, false);
  },
});
