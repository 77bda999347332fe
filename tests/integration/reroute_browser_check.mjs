// Opens a workflow in the real frontend and reports its native reroutes and links as the frontend holds them
// (and as it saves them again), as JSON on stdout. test_reroute_browser.py decides what is right.
// Usage: node reroute_browser_check.mjs config.json   (config: { url, chromium, profileDir, timeoutMs, workflow })
import fs from "node:fs";
import { appFacts, openApp, openPage, sleep } from "./browser_session.mjs";

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const report = {};
const { page, finish, step } = await openPage(config, report);

try {
  await openApp(page, config, report);
  report.facts = await appFacts(page);
  report.loading = await page.evaluate(
    (workflow) => window.app.loadGraphData(workflow).then(() => "loaded", (e) => `failed: ${e}`), config.workflow);
  await sleep(500);
  await step("graph", () => page.evaluate(() => {
    const graph = window.app.graph;
    const values = (collection) => (collection instanceof Map ? [...collection.values()]
      : Object.values(collection ?? {}));
    return {
      reroutes: values(graph.reroutes).map((r) => ({ id: r.id, parentId: r.parentId ?? null,
        linkIds: [...(r.linkIds ?? [])] })),
      links: values(graph.links).filter(Boolean).map((l) => ({ id: l.id, origin_id: l.origin_id,
        origin_slot: l.origin_slot, target_id: l.target_id, target_slot: l.target_slot,
        parentId: l.parentId ?? null })),
      nodes: (graph.nodes ?? graph._nodes).map((n) => ({ id: n.id, type: n.type,
        inputs: (n.inputs ?? []).map((i) => i.name) })),
    };
  }));
  await step("saved", () => page.evaluate(() => {
    const saved = window.app.graph.serialize();
    return { reroutes: saved.extra?.reroutes ?? saved.reroutes ?? null,
      linkExtensions: saved.extra?.linkExtensions ?? null };
  }));
} catch (error) {
  report.failures.push(`${error.stack ?? error}`);
}
await finish();
