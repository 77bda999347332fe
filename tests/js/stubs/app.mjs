// Stand-in for ComfyUI's scripts/app.js: records registered extensions; settings are configurable.
export const extensions = [];
export const settings = {};
export const app = {
  canvas: {},
  extensionManager: { setting: { get: (id) => settings[id] } },
  registerExtension(extension) {
    extensions.push(extension);
  },
};
