// The scores of HyperLoRA Likeness written on the node: the summary line and one line per image
// (the node's ui "text"), the best image marked with a star and in bold, images without a face in grey.
import { app } from "../../../scripts/app.js";

export const LIKENESS_NODE = "HyperLoRALikeness";
const IMAGE_LINE = /^image \d+: (-?\d+(?:\.\d+)?)/;

export function scoreLines(text) {
  if (!Array.isArray(text)) return [];
  const lines = text.filter((line) => typeof line === "string");
  const score = (line) => (IMAGE_LINE.test(line) && !line.includes("no face") ? Number(line.match(IMAGE_LINE)[1]) : null);
  const scores = lines.map(score);
  const top = Math.max(...scores.filter((value) => value !== null));
  const best = scores.indexOf(top); // -1 when no image had a face: nothing is marked
  return lines.map((line, index) => ({
    text: index === best ? `\u2605 ${line}` : line,
    best: index === best,
    colour: line.includes("no face") ? "#999" : line.startsWith("ID similarity") ? "#ddd" : "#8c8",
  }));
}

// Room for the summary and five images' lines from the start, so the node does not grow over the next one after
// a run; a longer batch scrolls inside it.
export const SCORES_HEIGHT = 128;

export function attachScores(node) {
  if (typeof node.addDOMWidget !== "function") return null;
  const element = document.createElement("div");
  element.style.cssText = "font:12px/1.3 sans-serif;overflow:auto;white-space:normal;overflow-wrap:anywhere;"
    + "box-sizing:border-box;height:100%";
  const widget = node.addDOMWidget("likeness_scores", "hyperlora_likeness_scores", element, {
    serialize: false,
    hideOnZoom: true,
    getValue: () => "",
    setValue: () => {},
    getMinHeight: () => SCORES_HEIGHT,
    getMaxHeight: () => SCORES_HEIGHT,
  });
  if (widget) widget.serialize = false; // display only: must not shift the node's saved widget values
  const show = (text) => {
    element.replaceChildren(...scoreLines(text).map(({ text: line, colour, best }) => {
      const row = document.createElement("div");
      row.textContent = line;
      row.style.color = colour;
      if (best) row.style.fontWeight = "bold";
      return row;
    }));
    node.setDirtyCanvas?.(true, true);
  };
  const onExecuted = node.onExecuted;
  node.onExecuted = function (message) {
    const result = onExecuted?.apply(this, arguments);
    show(message?.text);
    return result;
  };
  return { element, show };
}

app.registerExtension({
  name: "hyperlora.likeness_scores",
  nodeCreated(node) {
    if (node.comfyClass === LIKENESS_NODE) attachScores(node);
  },
});
