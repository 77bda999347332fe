// What every browser check here shares: headless Chromium on a persistent profile, errors of the page
// collected into the report, a watchdog that still prints the report when time runs out, and steps
// whose failures are recorded instead of ending the run. The checks only observe and act; the Python
// tests decide what is right.
import { createRequire } from "node:module";

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

// Dialogs of the frontend's own that can cover the graph whatever the tests stored beforehand: "missing
// models", release notes, the templates browser (not a PrimeVue .p-dialog in newer frontends), sign-in.
// Escape closes most; a dialog still open gets its close button (found by class, not by its label, so in
// any language). What was closed is reported in report.closedDialogs.
const DIALOGS = ".p-dialog:visible, [role=dialog]:visible";
const CLOSE_BUTTONS = ".p-dialog-close-button, .p-dialog-header-close, button[class*=close i]";
export async function closeDialogs(page, report) {
  for (let tries = 0; tries < 5; tries++) {
    const dialogs = page.locator(DIALOGS);
    const titles = await dialogs.allInnerTexts();
    if (!titles.length) return;
    report.closedDialogs = [...(report.closedDialogs ?? []), ...titles.map((text) => text.slice(0, 80))];
    await page.keyboard.press("Escape");
    await sleep(300);
    if (tries >= 1) {
      const close = dialogs.last().locator(CLOSE_BUTTONS).first();
      if (await close.isVisible().catch(() => false)) await close.click({ timeout: 2000 }).catch(() => {});
      await sleep(300);
    }
  }
}

// config: { chromium, profileDir, timeoutMs, lang, viewport }; report gets consoleErrors, pageErrors, steps, failures,
// and consoleStacks: for each console.error call, its text and the script URLs of its stack (async parents too),
// so a test can tell the frontend's own errors from ours by where they come from.
// lang: the browser's language (default en-US); the frontend's own language is the Comfy.Locale setting,
// which the Python tests store on the server before the page opens (test_web_extension.prepare_frontend).
export async function openPage(config, report) {
  Object.assign(report, { consoleErrors: [], consoleStacks: [], pageErrors: [], steps: {}, failures: [], ...report });
  let context = null;
  const finish = async (failure) => {
    clearTimeout(watchdog);
    if (failure) report.failures.push(failure);
    await context?.close().catch(() => {});
    // exit once the report is written: a pipe takes 64 KB at a time, and exiting earlier cuts a long report
    await new Promise(() => process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(0)));
  };
  const watchdog = setTimeout(() => finish("timed out"), config.timeoutMs);
  const step = async (name, action) => {
    try {
      report.steps[name] = await action();
    } catch (error) {
      report.failures.push(`${name}: ${error.stack ?? error}`);
    }
  };

  // Resolved like require() from this folder: tests/integration/node_modules, parents, or NODE_PATH.
  const { chromium } = createRequire(import.meta.url)("playwright-core");
  const lang = config.lang ?? "en-US";
  context = await chromium.launchPersistentContext(config.profileDir, {
    executablePath: config.chromium, headless: true, viewport: config.viewport ?? { width: 1280, height: 900 },
    locale: lang,
    args: [...CHROMIUM_ARGS, `--lang=${lang}`],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (message) => {
    if (message.type() === "error") report.consoleErrors.push({ text: message.text(), url: message.location().url });
  });
  page.on("pageerror", (error) => report.pageErrors.push({ message: error.message, stack: error.stack ?? "" }));
  const cdp = await context.newCDPSession(page);
  cdp.on("Runtime.consoleAPICalled", (event) => {
    if (event.type !== "error") return;
    const urls = [];
    for (let trace = event.stackTrace; trace; trace = trace.parent) urls.push(...trace.callFrames.map((f) => f.url));
    const text = event.args.map((arg) => arg.value ?? arg.description ?? "").join(" ");
    report.consoleStacks.push({ text, urls });
  });
  await cdp.send("Runtime.enable");
  await cdp.send("Runtime.setAsyncCallStackDepth", { maxDepth: 16 });
  return { page, context, finish, step };
}

// The page at config.url once the frontend has imported every extension and shown its default graph,
// with the dialogs of its first start closed.
export async function openApp(page, config, report) {
  await page.goto(config.url, { waitUntil: "load" });
  await page.waitForFunction(() => window.app?.graph && window.app.extensions?.length && window.LiteGraph,
    null, { timeout: config.timeoutMs });
  await sleep(1500); // late errors from extension set-up; late dialogs
  await closeDialogs(page, report);
}

// What the loaded frontend is. Nodes 2.0 is a user setting of type "boolean"; 1.27.x carries only a
// "hidden" experiment that mounts no DOM widgets.
export const NODES2_SETTING = "Comfy.VueNodes.Enabled";
export function appFacts(page) {
  return page.evaluate((settingId) => {
    const setting = window.app.extensionManager?.setting;
    const definition = setting?.settings?.[settingId] ?? window.app.ui?.settings?.settingsLookup?.[settingId];
    return {
      extensions: window.app.extensions.map((extension) => extension.name),
      frontendVersion: window.__COMFYUI_FRONTEND_VERSION__ ?? null,
      nodes2SettingType: definition?.type ?? null,
      vueNodesMode: Boolean(window.LiteGraph.vueNodesMode),
    };
  }, NODES2_SETTING);
}

// Why this frontend cannot run a Nodes 2.0 check (facts from appFacts), or null when it can, when none is
// asked, or when the page did not load (no facts: that is a failure, already in the report, not a skip).
export function nodes2Unsupported(config, facts) {
  if (!facts || config.renderer !== "nodes2" || facts.nodes2SettingType === "boolean") return null;
  const type = facts.nodes2SettingType;
  return `frontend ${facts.frontendVersion} has no Nodes 2.0 setting (${NODES2_SETTING} is `
    + `${type ? `a ${type} experiment that mounts no DOM widgets` : "absent"})`;
}
