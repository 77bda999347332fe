// Drives the ComfyUI page in headless Chromium and reports what it saw, as JSON on stdout.
// It only observes and acts; test_web_extension.py decides what is right, so a failure there
// names the exact check. Usage: node browser_check.mjs config.json   (written by the test)
//
// config: { url, chromium, profileDir, timeoutMs, removeToRecheck, facesOutput, faceClicks }
// faceClicks: [{ color: [r, g, b], edge: "top" | "bottom", inset }] in click order
import fs from "node:fs";
import { createRequire } from "node:module";

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const OUR_FILES = "/extensions/comfyui-hyperlora/";
const report = { ourFiles: {}, consoleErrors: [], pageErrors: [], steps: {}, failures: [] };

// Never hang the test: give up, and still print what was seen, after the configured time.
const watchdog = setTimeout(() => finish("timed out"), config.timeoutMs);

let context = null;
async function finish(failure) {
  clearTimeout(watchdog);
  if (failure) report.failures.push(failure);
  await context?.close().catch(() => {});
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exit(0);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Dialogs of the frontend's own (e.g. "missing models" for the default workflow) cover the canvas.
async function closeDialogs() {
  for (let tries = 0; tries < 5; tries++) {
    const titles = await page.locator(".p-dialog:visible").allInnerTexts();
    if (!titles.length) return;
    report.closedDialogs = [...(report.closedDialogs ?? []), ...titles.map((text) => text.slice(0, 80))];
    await page.keyboard.press("Escape");
    await sleep(300);
  }
}

async function step(name, action) {
  try {
    report.steps[name] = await action();
  } catch (error) {
    report.failures.push(`${name}: ${error.stack ?? error}`);
  }
}

// Resolved like require() from this folder: tests/integration/node_modules, parents, or NODE_PATH.
const { chromium } = createRequire(import.meta.url)("playwright-core");
context = await chromium.launchPersistentContext(config.profileDir, {
  executablePath: config.chromium,
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = context.pages()[0] ?? (await context.newPage());
page.on("console", (message) => {
  if (message.type() === "error") report.consoleErrors.push({ text: message.text(), url: message.location().url });
});
page.on("pageerror", (error) => report.pageErrors.push({ message: error.message, stack: error.stack ?? "" }));
page.on("response", (response) => {
  const url = new URL(response.url());
  if (url.pathname.startsWith(OUR_FILES)) report.ourFiles[url.pathname] = response.status();
});

await step("load", async () => {
  const started = Date.now();
  await page.goto(config.url, { waitUntil: "load" });
  // The frontend imports every extension before app.setup finishes; then the default graph is there.
  await page.waitForFunction(() => window.app?.graph && window.app.extensions?.length && window.LiteGraph,
    null, { timeout: config.timeoutMs });
  await sleep(1000); // late errors from extension set-up
  const extensions = await page.evaluate(() => window.app.extensions.map((extension) => extension.name));
  return { seconds: (Date.now() - started) / 1000, extensions };
});

// The loader node's status widget: the files found, then (file removed, "check again") the missing one.
await step("setup", async () => {
  await closeDialogs();
  await page.evaluate(() => {
    window.app.graph.clear();
    const node = window.LiteGraph.createNode("HyperLoRACheckpointLoader");
    node.pos = [200, 100];
    window.app.graph.add(node);
    window.hlLoader = node;
  });
  const statusText = () => page.evaluate(() => {
    const widget = window.hlLoader.widgets?.find((w) => w.name === "setup_status");
    return widget ? widget.element?.textContent ?? null : "(no setup_status widget)";
  });
  const settled = async () => {
    const deadline = Date.now() + 15000;
    let text = await statusText();
    while ((!text || text.includes("Checking model files")) && Date.now() < deadline) {
      await sleep(100);
      text = await statusText();
    }
    return text;
  };
  const widgets = await page.evaluate(() => window.hlLoader.widgets.map((w) => w.name));
  const found = await settled();
  const serialized = await page.evaluate(() => window.hlLoader.serialize().widgets_values);
  if (!found || found.startsWith("(no")) return { widgets, found, serialized };
  fs.rmSync(config.removeToRecheck);
  await page.evaluate(() => window.app.canvas.draw(true, true));
  await page.getByRole("button", { name: "check again" }).click({ timeout: 10000 });
  await sleep(200);
  return { widgets, found, serialized, afterRecheck: await settled() };
});

// Face picking: the Encode node gets an "executed" message like the server sends, then real mouse
// clicks land just inside or outside the drawn face boxes, found by their colour on the canvas.
await step("faces", async () => {
  await closeDialogs();
  await page.evaluate(async (output) => {
    const { api } = await import("/scripts/api.js");
    const app = window.app;
    app.graph.clear();
    const node = window.LiteGraph.createNode("HyperLoRAEncodeFace");
    node.pos = [200, 100];
    app.graph.add(node);
    node.setSize([500, 600]);
    app.canvas.ds.offset = [0, 0];
    app.canvas.ds.scale = 1;
    window.hlEncode = node;
    api.dispatchCustomEvent("executed", { node: String(node.id), display_node: String(node.id), output });
  }, config.facesOutput);
  await page.waitForFunction(() => window.hlEncode.imgs?.[0]?.complete && window.hlEncode.imgs[0].naturalWidth > 0,
    null, { timeout: 15000 });
  const widgetValues = () => page.evaluate(() => Object.fromEntries(window.hlEncode.widgets
    .filter((w) => w.name === "face_selection" || w.name === "face_index").map((w) => [w.name, w.value])));
  const before = await widgetValues();
  const clicks = [];
  for (const { color, edge, inset } of config.faceClicks) {
    const area = await page.evaluate(colorArea, color);
    const spot = area.pixels ? clickPoint(area, edge, inset) : null;
    const onCanvas = spot ? await page.evaluate(([x, y]) =>
      document.elementFromPoint(x, y) === window.app.canvas.canvas, [spot.x, spot.y]) : false;
    if (onCanvas) {
      await page.mouse.click(spot.x, spot.y);
      await sleep(300);
    }
    clicks.push({ color, edge, inset, pixels: area.pixels, spot, onCanvas, after: await widgetValues() });
  }
  return { before, clicks };
});

await finish(null);

// A point `inset` page pixels inside (negative: outside) the top or bottom edge of a colour area,
// halfway across it: clicks close to a box's edge show that the picked spot matches the drawing.
function clickPoint(area, edge, inset) {
  const x = (area.left + area.right) / 2;
  return { x, y: edge === "top" ? area.top + inset : area.bottom - inset };
}

// In the page: the bounds, in page coordinates, of the canvas pixels of one colour.
function colorArea(color) {
  const app = window.app;
  app.canvas.setDirty(true, true);
  app.canvas.draw(true, true);
  const canvas = app.canvas.canvas;
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let pixels = 0;
  const bounds = [Infinity, Infinity, -Infinity, -Infinity];
  for (let i = 0; i < data.length; i += 4) {
    if (color.every((value, channel) => Math.abs(data[i + channel] - value) < 30)) {
      const x = (i / 4) % canvas.width;
      const y = Math.floor(i / 4 / canvas.width);
      bounds[0] = Math.min(bounds[0], x);
      bounds[1] = Math.min(bounds[1], y);
      bounds[2] = Math.max(bounds[2], x + 1);
      bounds[3] = Math.max(bounds[3], y + 1);
      pixels += 1;
    }
  }
  if (!pixels) return { pixels };
  const rect = canvas.getBoundingClientRect();
  const sx = rect.width / canvas.width;
  const sy = rect.height / canvas.height;
  return { pixels, left: rect.left + bounds[0] * sx, top: rect.top + bounds[1] * sy,
    right: rect.left + bounds[2] * sx, bottom: rect.top + bounds[3] * sy };
}
