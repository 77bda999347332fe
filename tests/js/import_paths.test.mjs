// ComfyUI serves WEB_DIRECTORY ("./web") at /extensions/<pack>/, so web/js/x.js is fetched from
// /extensions/<pack>/js/x.js. Its imports of ComfyUI's own modules must resolve to /scripts/*.js there
// (the module stubs in the other tests match any path, so they cannot catch a wrong depth).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";

const webJs = new URL("../../web/js/", import.meta.url);

test("imports of ComfyUI scripts resolve to /scripts/ when served", () => {
  let checked = 0;
  for (const file of readdirSync(webJs).filter((name) => name.endsWith(".js"))) {
    const source = readFileSync(new URL(file, webJs), "utf8");
    const served = `http://127.0.0.1:8188/extensions/comfyui-hyperlora/js/${file}`;
    for (const [, spec] of source.matchAll(/from\s+"([^"]*scripts\/[a-z]+\.js)"/g)) {
      const path = new URL(spec, served).pathname;
      assert.match(path, /^\/scripts\/[a-z]+\.js$/, `${file}: "${spec}" resolves to ${path}`);
      checked += 1;
    }
  }
  assert.ok(checked >= 3, `expected our extensions to import ComfyUI's app/api modules (found ${checked})`);
});
