// Pure logic of the HyperLoRA web extension: no ComfyUI imports, so Node's test runner can check it.

/**
 * Sizes for the detection previews laid out side by side in an area of `areaWidth` x `areaHeight`
 * (CSS pixels), `gap` apart: one common scale, never enlarged, so every photo fits.
 * `sizes` are [{ width, height }] in image pixels. Returns [{ width, height }] in CSS pixels.
 */
export function fitImages(sizes, areaWidth, areaHeight, gap = 4) {
  const valid = (sizes ?? []).filter((size) => size.width > 0 && size.height > 0);
  if (!valid.length || !(areaWidth > 0 && areaHeight > 0)) return (sizes ?? []).map(() => ({ width: 0, height: 0 }));
  const totalWidth = valid.reduce((sum, size) => sum + size.width, 0);
  const tallest = Math.max(...valid.map((size) => size.height));
  const freeWidth = Math.max(areaWidth - gap * (valid.length - 1), 1);
  const scale = Math.min(freeWidth / totalWidth, areaHeight / tallest, 1);
  return sizes.map((size) => (size.width > 0 && size.height > 0
    ? { width: Math.floor(size.width * scale), height: Math.floor(size.height * scale) }
    : { width: 0, height: 0 }));
}

/**
 * A face box [x1, y1, x2, y2] (image pixels) as CSS percentages of the displayed image, so the
 * clickable box stays on the face at any zoom or node size; clamped to the image.
 */
export function boxPercent([x1, y1, x2, y2], width, height) {
  const clamp = (value, limit) => Math.min(Math.max(value, 0), limit);
  const left = clamp(x1, width);
  const top = clamp(y1, height);
  return {
    left: (left / width) * 100,
    top: (top / height) * 100,
    width: ((clamp(x2, width) - left) / width) * 100,
    height: ((clamp(y2, height) - top) / height) * 100,
  };
}

/** How many faces the best-covered photo has: face_index can be 0 .. count - 1. */
export function faceCount(faces) {
  return Math.max(0, ...(faces ?? []).map((entry) => entry.boxes?.length ?? 0));
}

/**
 * The face index a key press picks, or -1: a digit picks that face, arrows step from `current`
 * (wrapping), so the picker works without a mouse.
 */
export function faceForKey(key, current, count) {
  if (!(count > 0)) return -1;
  if (/^[0-9]$/.test(key)) return Number(key) < count ? Number(key) : -1;
  const from = current >= 0 && current < count ? current : 0;
  if (key === "ArrowRight" || key === "ArrowDown") return (from + 1) % count;
  if (key === "ArrowLeft" || key === "ArrowUp") return (from - 1 + count) % count;
  return -1;
}

/**
 * The order to stack face boxes in, largest first: where boxes overlap, the smallest lies on top and
 * takes the click, since it is the face the user aimed at.
 */
export function stackingOrder(boxes) {
  const area = ([x1, y1, x2, y2]) => (x2 - x1) * (y2 - y1);
  return (boxes ?? []).map((box, index) => index).sort((a, b) => area(boxes[b]) - area(boxes[a]) || a - b);
}

const TITLES = {
  hyper_lora: "HyperLoRA checkpoint",
  antelopev2: "Face models (antelopev2)",
  clip: "CLIP ViT-L/14",
};
const PROBLEM = new Set(["missing", "damaged"]);

/**
 * A short status of the files the given components need, from the /hyperlora/setup report:
 * { ok, lines: [{ ok, text }] }. Found files are summarised per component; every missing or
 * damaged file gets its own line naming the exact folder it belongs in.
 */
export function summarizeSetup(report, components) {
  const lines = [];
  for (const component of components) {
    const items = (report?.items ?? []).filter((item) => item.component === component);
    const problems = items.filter((item) => PROBLEM.has(item.status));
    const found = foundText(report, component, items);
    if (found) lines.push({ ok: true, text: `${TITLES[component]}: ${found}` });
    // One line per folder: a node's status stays short enough not to cover its neighbours.
    const missingByFolder = new Map();
    for (const item of problems) {
      if (item.status === "missing") {
        missingByFolder.set(item.folder, [...(missingByFolder.get(item.folder) ?? []), item.name]);
      } else {
        lines.push({ ok: false, text: `damaged ${item.name}: ${item.hint}` });
      }
    }
    for (const [folder, names] of missingByFolder) {
      const them = names.length === 1 ? "it" : "them";
      lines.push({ ok: false, text: `missing ${names.join(", ")} -> put ${them} in ${folder}` });
    }
    const hint = problems.find((item) => item.status === "missing" && item.hint)?.hint;
    if (hint) lines.push({ ok: false, text: hint });
  }
  return { ok: lines.every((line) => line.ok), lines };
}

function foundText(report, component, items) {
  if (component === "hyper_lora") return report?.variants?.length ? report.variants.join(", ") : null;
  if (component === "clip") return report?.clip ?? null;
  const required = items.filter((item) => item.status !== "optional-missing");
  if (!required.length || required.some((item) => item.status !== "found")) return null;
  return `found in ${required[0].folder}`;
}

/**
 * The choices of a list input in a node's /object_info entry, in either format the server writes:
 * `[[...choices], {...}]`, or `["COMBO", { options: [...choices] }]` (V3 nodes, newer ComfyUI).
 * Returns null when `spec` is not a list input.
 */
export function comboOptions(spec) {
  if (!Array.isArray(spec)) return null;
  if (Array.isArray(spec[0])) return spec[0];
  const options = spec[1]?.options;
  return spec[0] === "COMBO" && Array.isArray(options) ? options : null;
}

/** Font size (px) of the face numbers on a preview shown w x h px: they scale with the picture, as the numbers
 * drawn into the detection preview do (side / 25), and never drop below a readable 12 px. */
export function faceNumberPx(width, height) {
  const side = Math.max(Number(width) || 0, Number(height) || 0);
  return Math.max(12, Math.round(side / 25));
}

/** WCAG contrast ratio of two "#rrggbb" colours (1..21); 4.5 is the bar for body text. */
export function contrastRatio(foreground, background) {
  const luminance = (hex) => {
    const channels = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
      .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
    return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2];
  };
  const [light, dark] = [luminance(foreground), luminance(background)].sort((a, b) => b - a);
  return (light + 0.05) / (dark + 0.05);
}
