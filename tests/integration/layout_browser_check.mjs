// Loads workflows into the real page and reports where every node is drawn, as JSON on stdout; the
// Python side (test_workflow_layouts.py, scripts/measure_node_sizes.py) decides what is right.
// Usage: node layout_browser_check.mjs config.json
//
// config: { url, chromium, profileDir, timeoutMs, renderer: "classic" | "nodes2", lang, viewport,
//           workflows: [{ name, path, outputs }] }
// outputs (optional): {node id: the ui output the server sent for it after a run}; each node gets it as an
// "executed" message, as the page would during a run, before the layout is measured (the layout after a run).
// For each workflow, once its images and our setup status have settled: per node its id, type and box
// [x, y, width, height] in canvas units, title bar included. Classic: from node.pos and node.size (what
// the canvas draws). Nodes 2.0: from the node's DOM element (sized by its content), mapped to the canvas.
// And per node its widgets' names and values, as the frontend laid the saved widgets_values out.
import fs from "node:fs";
import { appFacts, closeDialogs, nodes2Unsupported, openApp, openPage, sleep } from "./browser_session.mjs";

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const report = { consoleErrors: [], pageErrors: [], steps: {}, failures: [], layouts: {} };
const { page, finish, step } = await openPage(config, report);

await step("load", async () => {
  await openApp(page, config, report);
  return appFacts(page);
});
report.unsupported = nodes2Unsupported(config, report.steps.load);
if (report.unsupported) await finish(null);

for (const { name, path, outputs } of config.workflows) {
  await step(name, async () => {
    const workflow = JSON.parse(fs.readFileSync(path, "utf8"));
    await page.evaluate((graph) => window.app.loadGraphData(graph), workflow);
    await closeDialogs(page, report);
    if (outputs) {
      await page.evaluate(async (results) => {
        const { api } = await import("/scripts/api.js");
        for (const [id, output] of Object.entries(results)) {
          api.dispatchCustomEvent("executed", { node: id, display_node: id, output, prompt_id: "layout-after-run" });
        }
      }, outputs);
    }
    // Everything on screen at a zoom that keeps Nodes 2.0 at full detail (it hides widgets when far out).
    await page.evaluate(() => {
      const canvas = window.app.canvas;
      const nodes = window.app.graph.nodes ?? window.app.graph._nodes;
      const left = Math.min(...nodes.map((n) => n.pos[0])) - 50;
      const top = Math.min(...nodes.map((n) => n.pos[1])) - 80;
      canvas.ds.scale = 0.6;
      canvas.ds.offset = [-left, -top];
      canvas.setDirty(true, true);
    });
    let previous = "";
    let layout = null;
    for (let tries = 0; tries < 20; tries++) { // until images, setup status and DOM sizes have settled
      await sleep(500);
      layout = await page.evaluate(measure, config.renderer);
      const now = JSON.stringify(layout);
      if (now === previous && !layout.pending) break;
      previous = now;
    }
    report.layouts[name] = layout;
    return { nodes: layout.nodes.length, pending: layout.pending };
  });
}
await finish(null);

// Runs in the page. pending: our setup status still checking, or an image not yet loaded.
function measure(renderer) {
  const plain = (value) => (value === undefined || typeof value === "function" || (value && typeof value === "object"
    && !Array.isArray(value)) ? null : value);
  const app = window.app;
  const title = window.LiteGraph.NODE_TITLE_HEIGHT ?? 30;
  const nodes = app.graph.nodes ?? app.graph._nodes;
  const { scale, offset } = app.canvas.ds;
  const origin = app.canvas.canvas.getBoundingClientRect();
  const pending = [...document.querySelectorAll("img")].some((img) => img.isConnected && !img.complete)
    || nodes.some((n) => (n.widgets ?? []).some((w) => w.name === "setup_status"
      && (!w.element?.textContent || w.element.textContent.includes("Checking"))));
  return {
    pending,
    nodes: nodes.map((node) => {
      const entry = { id: node.id, type: node.type, title: node.title,
        widgets: (node.widgets ?? []).map((w) => ({ name: w.name, value: plain(w.value) })),
        // text our DOM widgets hold beyond what they show (scrolled or cut off), per widget
        hidden: Object.fromEntries((node.widgets ?? []).filter((w) => w.element?.isConnected
          && w.name.match(/^(setup_status|likeness_scores|face_picker)$/))
          .map((w) => [w.name, Math.max(0, w.element.scrollHeight - w.element.clientHeight,
            w.element.scrollWidth - w.element.clientWidth)])) };
      if (renderer === "nodes2") {
        const element = document.querySelector(`[data-node-id="${node.id}"]`);
        const rect = element?.getBoundingClientRect();
        entry.box = rect && rect.width > 0 ? [(rect.left - origin.left) / scale - offset[0],
          (rect.top - origin.top) / scale - offset[1], rect.width / scale, rect.height / scale] : null;
      } else {
        entry.box = [node.pos[0], node.pos[1] - title, node.size[0], node.size[1] + title];
      }
      return entry;
    }),
  };
}
