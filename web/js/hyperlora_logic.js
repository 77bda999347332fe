// Pure logic of the HyperLoRA web extension: no ComfyUI imports, so Node's test runner can check it.
// Geometry mirrors how the ComfyUI frontend draws a single preview image below a node's widgets.

/**
 * Where the frontend draws one preview image inside a node, in node-local coordinates.
 * The image is fitted into the area below `top` (never enlarged) and centred.
 * `bottomReserve` is the strip the frontend keeps for the "W x H" caption.
 */
export function previewImageRect({ nodeWidth, nodeHeight, top, imageWidth, imageHeight, bottomReserve = 0 }) {
  const areaWidth = nodeWidth;
  const areaHeight = nodeHeight - top - bottomReserve;
  if (!(areaWidth > 0 && areaHeight > 0 && imageWidth > 0 && imageHeight > 0)) return null;
  const scale = Math.min(areaWidth / imageWidth, areaHeight / imageHeight, 1);
  const width = imageWidth * scale;
  const height = imageHeight * scale;
  return { x: (areaWidth - width) / 2, y: (areaHeight - height) / 2 + top, width, height };
}

/**
 * Whether a node-local point is on the "n/N" or "x" button the frontend draws at the right edge of
 * the preview when a node shows several images (30 px squares, 10 px from the corners).
 */
export function onPreviewButton([x, y], { nodeWidth, nodeHeight, top, bottomReserve = 0 }) {
  const areaBottom = nodeHeight - bottomReserve;
  const inColumn = x >= nodeWidth - 40 && x <= nodeWidth - 10;
  return inColumn && ((y >= top + 10 && y <= top + 40) || (y >= areaBottom - 40 && y <= areaBottom - 10));
}

/** A node-local point as image pixel coordinates, or null when it is outside the drawn image. */
export function nodeToImage([x, y], rect, imageWidth, imageHeight) {
  if (!rect || x < rect.x || y < rect.y || x > rect.x + rect.width || y > rect.y + rect.height) return null;
  return [((x - rect.x) / rect.width) * imageWidth, ((y - rect.y) / rect.height) * imageHeight];
}

/** An image pixel position as a node-local point (e.g. to outline a face box). */
export function imageToNode([x, y], rect, imageWidth, imageHeight) {
  return [rect.x + (x / imageWidth) * rect.width, rect.y + (y / imageHeight) * rect.height];
}

/**
 * Index of the face box [x1, y1, x2, y2] under an image point, or -1.
 * When boxes overlap, the smallest one wins: it is the face the user aimed at.
 */
export function boxAt(boxes, [x, y]) {
  let best = -1;
  let bestArea = Infinity;
  (boxes ?? []).forEach(([x1, y1, x2, y2], index) => {
    const area = (x2 - x1) * (y2 - y1);
    if (x >= x1 && x <= x2 && y >= y1 && y <= y2 && area < bestArea) {
      best = index;
      bestArea = area;
    }
  });
  return best;
}

/** The detections of one input image from the Encode node's `hyperlora_faces` UI output. */
export function facesForImage(faces, imageIndex) {
  return (faces ?? []).find((entry) => entry.image === imageIndex) ?? null;
}

/**
 * The face index under a click on a node's preview, or -1 (also on the frontend's image buttons).
 * `displayed` is the size of the preview image as loaded in the browser; detection boxes are in the
 * pixel coordinates of the original image (`width` x `height` in the UI output), which may differ.
 */
export function pickFace({
  faces, imageIndex, point, nodeWidth, nodeHeight, top, bottomReserve = 0, displayed, imageCount = 1,
}) {
  const entry = facesForImage(faces, imageIndex);
  if (!entry || !entry.boxes?.length) return -1;
  if (imageCount > 1 && onPreviewButton(point, { nodeWidth, nodeHeight, top, bottomReserve })) return -1;
  const rect = previewImageRect({
    nodeWidth, nodeHeight, top, bottomReserve,
    imageWidth: displayed?.width ?? entry.width, imageHeight: displayed?.height ?? entry.height,
  });
  const imagePoint = nodeToImage(point, rect, entry.width, entry.height);
  return imagePoint ? boxAt(entry.boxes, imagePoint) : -1;
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
