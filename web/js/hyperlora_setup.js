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

// Readable on the node's own background in both renderers: 12 px, and colours that keep WCAG's 4.5:1 on the
// dark node colour; the status draws its own dark panel, so a light theme cannot wash it out.
export const STATUS_STYLE = {
  fontPx: 12, panel: "#1e1e1e", ok: "#8fdc8f", missing: "#ff9d9d", neutral: "#d0d0d0", link: "#8cc8ff",
};
const LINE_PX = 15; // 12 px at line-height 1.25: the height scripts/node_sizes.json was measured with

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
  element.replaceChildren(line("Checking model files...", STATUS_STYLE.neutral));
  let rows;
  try {
    const summary = summarizeSetup(await fetchReport(refresh), components);
    rows = summary.lines.map((entry) => line(`${entry.ok ? "\u2713" : "\u2717"} ${entry.text}`,
      entry.ok ? STATUS_STYLE.ok : STATUS_STYLE.missing));
  } catch (error) {
    rows = [line(`Could not check the model files: ${error.message}`, STATUS_STYLE.missing)];
  }
  const again = document.createElement("button");
  again.type = "button";
  again.textContent = "check again";
  // Every property set: Nodes 2.0's stylesheet resets buttons to transparent and borderless, which hid it.
  again.style.cssText = `display:inline-block;margin-top:2px;padding:0 6px;font:${STATUS_STYLE.fontPx}px/1.25 `
    + `sans-serif;color:${STATUS_STYLE.link};background:#2a2a2a;border:1px solid ${STATUS_STYLE.link};`
    + "border-radius:4px;text-decoration:underline;cursor:pointer;pointer-events:auto";
  again.addEventListener("pointerdown", (event) => event.stopPropagation()); // a click, not a node drag
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
    element.style.cssText = `font-size:${STATUS_STYLE.fontPx}px;line-height:1.25;font-family:sans-serif;`
      + `overflow:auto;padding:0 4px;border-radius:4px;background:${STATUS_STYLE.panel};pointer-events:auto`;
    const widget = node.addDOMWidget("setup_status", "hyperlora_setup_status", element, {
      serialize: false,
      hideOnZoom: true,
      getValue: () => "",
      setValue: () => {},
      // One line per row and the button; the example workflows are spaced for this height, and a longer
      // list scrolls inside the panel (the button stays reachable).
      getMinHeight: () => Math.min(10 + LINE_PX * Math.max(element.children.length, 1), 160),
    });
    widget.serialize = false; // status only: must not shift the node's saved widget values
    showStatus(node, element, components, false);
  },
});
