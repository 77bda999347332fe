// Opens an official ComfyUI-HyperLoRA workflow in the real frontend, accepts the conversion offer and
// reports what the graph holds then, as JSON on stdout. test_convert_browser.py decides what is right.
// Usage: node convert_browser_check.mjs config.json   (config: { url, chromium, profileDir, timeoutMs, workflow })
import fs from "node:fs";
import { openApp, openPage, sleep } from "./browser_session.mjs";

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const report = { consoleErrors: [], pageErrors: [], failures: [] };
const OFFER = "Convert it to HyperLoRA for ComfyUI?";

const { page, finish } = await openPage(config, report);

try {
  await openApp(page, config, report);
  report.extensions = await page.evaluate(() => window.app.extensions.map((e) => e.name));

  await page.evaluate((workflow) => {
    window.hlLoading = window.app.loadGraphData(workflow).then(() => "loaded", (e) => `failed: ${e}`);
  }, config.workflow);
  const offer = page.getByText(OFFER, { exact: false }).first();
  await offer.waitFor({ state: "visible", timeout: 20000 });
  report.offer = (await offer.innerText()).slice(0, 300);
  // The frontend's confirm dialog (PrimeVue); the accepting button's label differs between versions.
  const dialog = page.locator("[role=dialog]", { hasText: OFFER }).last();
  const buttons = dialog.getByRole("button");
  const labels = await buttons.allInnerTexts();
  report.buttons = labels;
  const accept = labels.findIndex((label) => /^(confirm|ok|yes|convert)/i.test(label.trim()));
  if (accept < 0) throw new Error(`no accepting button among ${JSON.stringify(labels)}`);
  await buttons.nth(accept).click();
  report.loading = await page.evaluate(() => window.hlLoading);
  await sleep(1000);
  report.nodeTypes = await page.evaluate(() => (window.app.graph.nodes ?? window.app.graph._nodes).map((n) => n.type));
  report.linkCount = await page.evaluate(() => {
    const links = window.app.graph.links;
    return links instanceof Map ? links.size : Object.keys(links ?? {}).length;
  });
  report.dialogs = (await page.locator("[role=dialog]:visible").allInnerTexts()).map((t) => t.slice(0, 400));
  report.toasts = (await page.locator(".p-toast-message").allInnerTexts()).map((t) => t.slice(0, 600));
} catch (error) {
  report.failures.push(`${error.stack ?? error}`);
}
await finish();
