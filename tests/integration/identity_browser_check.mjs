// The identity picker in a real page: HyperLoRA Load Identity shows the chosen identity's face, follows
// the choice, and takes a newly saved identity into its list. Reports what it saw as JSON on stdout;
// test_web_identities.py decides what is right. Usage: node identity_browser_check.mjs config.json
//
// config: { url, chromium, profileDir, timeoutMs, renderer: "classic" | "nodes2", first, second,
//           newIdentity: { from, to, name },   (a file the script copies in, as a save would write it)
//           likenessText: [...] }   (the ui text HyperLoRA Likeness returns)
import fs from "node:fs";
import { appFacts, nodes2Unsupported, openApp, openPage, sleep } from "./browser_session.mjs";

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const report = { consoleErrors: [], pageErrors: [], steps: {}, failures: [] };

const { page, finish, step } = await openPage(config, report);

await step("load", async () => {
  await openApp(page, config, report);
  return appFacts(page);
});
report.unsupported = nodes2Unsupported(config, report.steps.load);
if (report.unsupported) await finish(null);

// The thumbnail <img> the page shows for the node: its source, whether it is on screen, its centre colour.
function thumbnail() {
  return page.evaluate(() => {
    const images = [...document.querySelectorAll("img")].filter((img) => img.src.includes("identity_thumbnail"));
    const img = images.find((candidate) => candidate.getBoundingClientRect().width > 0) ?? images[0];
    if (!img) return { count: 0 };
    const rect = img.getBoundingClientRect();
    let colour = null;
    if (img.complete && img.naturalWidth) {
      const canvas = document.createElement("canvas");
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const context2d = canvas.getContext("2d");
      context2d.drawImage(img, 0, 0);
      colour = [...context2d.getImageData(canvas.width >> 1, canvas.height >> 1, 1, 1).data.slice(0, 3)];
    }
    return { count: images.length, src: new URL(img.src).search, naturalWidth: img.naturalWidth,
      shown: rect.width > 0 && rect.height > 0 && getComputedStyle(img).display !== "none", colour };
  });
}

async function waitFor(predicate, what) {
  const deadline = Date.now() + 15000;
  let seen = await thumbnail();
  while (!predicate(seen) && Date.now() < deadline) {
    await sleep(200);
    seen = await thumbnail();
  }
  return { ...seen, what };
}

await step("first", async () => {
  for (let tries = 0; tries < 5 && (await page.locator(".p-dialog:visible").count()); tries++) {
    await page.keyboard.press("Escape");
    await sleep(300);
  }
  await page.evaluate(() => {
    window.app.graph.clear();
    const node = window.LiteGraph.createNode("HyperLoRALoadIdentity");
    node.pos = [300, 150];
    window.app.graph.add(node);
    window.app.canvas.ds.offset = [0, 0];
    window.app.canvas.ds.scale = 1;
    window.app.canvas.setDirty(true, true);
    window.hlIdentity = node;
  });
  const values = await page.evaluate(() => window.hlIdentity.widgets.find((w) => w.name === "identity").options.values);
  const seen = await waitFor((t) => t.shown && t.naturalWidth > 0, config.first);
  const serialized = await page.evaluate(() => window.hlIdentity.serialize().widgets_values);
  return { values, serialized, ...seen };
});

await step("second", async () => {
  // set without a callback, as loading a workflow or another renderer may do: the picker must follow
  await page.evaluate((name) => {
    window.hlIdentity.widgets.find((w) => w.name === "identity").value = name;
  }, config.second);
  return waitFor((t) => t.src?.includes(encodeURIComponent(config.second)) && t.naturalWidth > 0, config.second);
});

await step("saved", async () => {
  fs.mkdirSync(config.newIdentity.to.replace(/\/[^/]*$/, ""), { recursive: true });
  fs.copyFileSync(config.newIdentity.from, config.newIdentity.to);
  await page.evaluate(async (name) => {
    const { api } = await import("/scripts/api.js");
    api.dispatchCustomEvent("executed", { node: "1", display_node: "1", output: { hyperlora_identity_saved: [name] } });
  }, config.newIdentity.name);
  const deadline = Date.now() + 15000;
  let values = [];
  while (Date.now() < deadline) {
    values = await page.evaluate(() => window.hlIdentity.widgets.find((w) => w.name === "identity").options.values);
    if (values.includes(`${config.newIdentity.name}.safetensors`)) break;
    await sleep(200);
  }
  return { values };
});

// Likeness: an "executed" message like the server sends puts the scores on the node, visibly.
await step("likeness", async () => {
  await page.evaluate(async (text) => {
    const { api } = await import("/scripts/api.js");
    const node = window.LiteGraph.createNode("HyperLoRALikeness");
    node.pos = [700, 150];
    window.app.graph.add(node);
    window.app.canvas.setDirty(true, true);
    await new Promise((resolve) => setTimeout(resolve, 500));
    api.dispatchCustomEvent("executed", { node: String(node.id), display_node: String(node.id), output: { text } });
  }, config.likenessText);
  const deadline = Date.now() + 15000;
  let seen = null;
  while (Date.now() < deadline) {
    seen = await page.evaluate((first) => {
      const rows = [...document.querySelectorAll("div")].filter((div) => div.textContent === first
        && div.children.length === 0);
      const row = rows.find((div) => div.getBoundingClientRect().width > 0);
      return row ? { shown: true, lines: [...row.parentElement.children].map((div) => div.textContent) } : null;
    }, config.likenessText[0]);
    if (seen) break;
    await sleep(200);
  }
  return seen ?? { shown: false };
});

await finish(null);
