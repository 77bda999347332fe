// Opens the frontend's template browser, goes to this pack's folder, and reports what a new user sees there
// (the text of the dialog, where each expected title stands in it, our thumbnails) and what opening the first
// of our cards loads, as JSON on stdout. test_templates_browser.py decides what is right.
// Usage: node templates_browser_check.mjs config.json   (config: { url, chromium, profileDir, timeoutMs, pack, titles })
import fs from "node:fs";
import { appFacts, openApp, openPage, sleep } from "./browser_session.mjs";

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const report = {};
const { page, finish, step } = await openPage(config, report);
const DIALOG = ".p-dialog:visible, [role=dialog]:visible"; // playwright's selector
const DOM_DIALOG = ".p-dialog, [role=dialog]"; // the page's own querySelectorAll (no :visible there)

// What the browser fetched of our templates (thumbnails come as blob: images, so the network tells).
report.fetched = [];
page.on("response", (response) => {
  const path = decodeURIComponent(new URL(response.url()).pathname);
  if (path.includes(`/workflow_templates/${config.pack}/`)) report.fetched.push({ path, status: response.status() });
});

try {
  await openApp(page, config, report);
  report.facts = await appFacts(page);
  await page.evaluate(() => window.app.extensionManager.command.execute("Comfy.BrowseTemplates"));
  const dialog = page.locator(DIALOG).last();
  await dialog.waitFor({ timeout: 20000 });
  // The pack's folder in the browser's side list (its label is the folder name in every frontend 1.27 to 1.58).
  await step("folder", async () => {
    const entry = dialog.getByText(config.pack, { exact: true }).first();
    await entry.click({ timeout: 10000 });
    return true;
  });
  await page.waitForFunction(([selector, title]) => [...document.querySelectorAll(selector)]
    .some((d) => d.innerText.includes(title)), [DOM_DIALOG, config.titles[0]], { timeout: 20000 }).catch(() => {});
  await sleep(1500); // thumbnails
  // Some frontends show a long list a page at a time, loading more as it scrolls: scroll to its end.
  for (let round = 0; round < 6; round++) {
    await page.evaluate((selector) => {
      for (const box of document.querySelectorAll(selector)) {
        for (const element of box.querySelectorAll("*")) {
          if (element.scrollHeight > element.clientHeight + 4) element.scrollTop = element.scrollHeight;
        }
      }
    }, DOM_DIALOG);
    await sleep(500);
  }
  await step("shown", () => page.evaluate(([selector, titles, pack]) => {
    const dialogs = [...document.querySelectorAll(selector)].filter((d) => d.offsetParent !== null || d.getClientRects().length);
    const box = dialogs[dialogs.length - 1];
    const text = box.innerText;
    return {
      positions: titles.map((title) => text.indexOf(title)),
      hasFileNames: /hyperlora_[a-z_]+/.test(text),
      images: [...box.querySelectorAll("img")].filter((img) => img.complete && img.naturalWidth > 0).length,
      text: text.slice(0, 4000),
    };
  }, [DOM_DIALOG, config.titles, config.pack]));
  await step("opened", async () => {
    await dialog.getByText(config.titles[0], { exact: true }).first().click({ timeout: 10000 });
    await page.waitForFunction(() => (window.app.graph.nodes ?? window.app.graph._nodes)
      .some((n) => n.type === "HyperLoRAApplyFace"), null, { timeout: 20000 });
    return page.evaluate(() => ({
      nodeTypes: (window.app.graph.nodes ?? window.app.graph._nodes).map((n) => n.type),
      workflowName: window.app.extensionManager.workflow?.activeWorkflow?.filename ?? null,
    }));
  });
} catch (error) {
  report.failures.push(`${error.stack ?? error}`);
}
await finish();
