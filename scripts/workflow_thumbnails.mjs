// Screenshots of workflow graphs for scripts/make_workflow_thumbnails.py (which documents the set-up).
// Usage: node scripts/workflow_thumbnails.mjs config.json
// config: { url, chromium, profileDir, timeoutMs, workflows: [{ name, path, out }] }
// Each workflow is loaded into the page, fitted to the canvas, and the canvas alone (no menus, no
// dialogs) is written as PNG to `out`. Prints one JSON line: { done: [names], failures: [text] }.
import fs from "node:fs";
import { createRequire } from "node:module";

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const result = { done: [], failures: [] };
const watchdog = setTimeout(() => finish("timed out"), config.timeoutMs);
let context = null;

async function finish(failure) {
  clearTimeout(watchdog);
  if (failure) result.failures.push(failure);
  await context?.close().catch(() => {});
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

const { chromium } = createRequire(import.meta.url)("playwright-core");
context = await chromium.launchPersistentContext(config.profileDir, {
  executablePath: config.chromium,
  headless: true,
  viewport: { width: 2400, height: 1440 }, // large: the graph fits at a scale with readable text
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const page = context.pages()[0] ?? (await context.newPage());
await page.goto(config.url, { waitUntil: "load" });
await page.waitForFunction(() => window.app?.graph && window.app.extensions?.length && window.LiteGraph,
  null, { timeout: config.timeoutMs });
await new Promise((resolve) => setTimeout(resolve, 1500));
// Text and widgets even when zoomed out (the frontend draws boxes only below this zoom by default).
await page.evaluate(() => window.app.extensionManager?.setting?.set?.("LiteGraph.Canvas.LowQualityRenderingZoomThreshold", 0.1)
  .catch(() => {}));

for (const { name, path, out } of config.workflows) {
  try {
    const workflow = JSON.parse(fs.readFileSync(path, "utf8"));
    const png = await page.evaluate(async (graph) => {
      const app = window.app;
      await app.loadGraphData(graph);
      await new Promise((resolve) => setTimeout(resolve, 500)); // images and widgets settle
      const canvas = app.canvas;
      const title = window.LiteGraph.NODE_TITLE_HEIGHT ?? 30;
      const boxes = [...(app.graph.nodes ?? app.graph._nodes).map((node) => [node.pos[0], node.pos[1] - title, node.size[0],
        node.size[1] + title]), ...(app.graph._groups ?? []).map((group) => [...group.pos, ...group.size])];
      const left = Math.min(...boxes.map((b) => b[0]));
      const top = Math.min(...boxes.map((b) => b[1]));
      const right = Math.max(...boxes.map((b) => b[0] + b[2]));
      const bottom = Math.max(...boxes.map((b) => b[1] + b[3]));
      const element = canvas.canvas;
      const margin = 40;
      const scale = Math.min((element.width - 2 * margin) / (right - left), (element.height - 2 * margin) / (bottom - top), 1);
      canvas.ds.scale = scale;
      canvas.ds.offset = [(element.width / scale - (right - left)) / 2 - left, (element.height / scale - (bottom - top)) / 2 - top];
      canvas.show_info = false; // no frame-rate corner
      canvas.setDirty(true, true);
      canvas.draw(true, true);
      return element.toDataURL("image/png");
    }, workflow);
    fs.writeFileSync(out, Buffer.from(png.split(",")[1], "base64"));
    result.done.push(name);
  } catch (error) {
    result.failures.push(`${name}: ${error.stack ?? error}`);
  }
}
await finish(null);
