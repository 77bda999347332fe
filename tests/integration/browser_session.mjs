// What every browser check here shares: headless Chromium on a persistent profile, errors of the page
// collected into the report, a watchdog that still prints the report when time runs out, and steps
// whose failures are recorded instead of ending the run. The checks only observe and act; the Python
// tests decide what is right.
import { createRequire } from "node:module";

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

// config: { chromium, profileDir, timeoutMs }; report gets consoleErrors, pageErrors, steps, failures.
export async function openPage(config, report) {
  Object.assign(report, { consoleErrors: [], pageErrors: [], steps: {}, failures: [], ...report });
  let context = null;
  const finish = async (failure) => {
    clearTimeout(watchdog);
    if (failure) report.failures.push(failure);
    await context?.close().catch(() => {});
    process.stdout.write(`${JSON.stringify(report)}\n`);
    process.exit(0);
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
  context = await chromium.launchPersistentContext(config.profileDir, {
    executablePath: config.chromium, headless: true, viewport: { width: 1280, height: 900 }, args: CHROMIUM_ARGS,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (message) => {
    if (message.type() === "error") report.consoleErrors.push({ text: message.text(), url: message.location().url });
  });
  page.on("pageerror", (error) => report.pageErrors.push({ message: error.message, stack: error.stack ?? "" }));
  return { page, context, finish, step };
}
