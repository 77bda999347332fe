// Module hook for the extension tests: ComfyUI's "../../scripts/*.js" resolve to the stubs here.
const STUBS = { "/scripts/app.js": "./app.mjs", "/scripts/api.js": "./api.mjs" };

export async function resolve(specifier, context, nextResolve) {
  for (const [suffix, stub] of Object.entries(STUBS)) {
    if (specifier.endsWith(suffix)) return { url: new URL(stub, import.meta.url).href, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}
