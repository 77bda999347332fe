// Face picking: the Encode Face node shows its detection previews in a widget of its own, with a
// clickable, numbered box on every face. A click (or a digit / arrow key while the widget has focus)
// sets face_selection to "index" and face_index to that face.
// It is a DOM widget, not drawing on the canvas: the classic canvas and Nodes 2.0 (which calls no
// canvas hooks and shows previews as <img>) both place it, so no frontend geometry is guessed.
// The node sends, in its UI output, `hyperlora_faces`: [{image, width, height, boxes, preview}] with
// the boxes in original image pixels, left to right (a box's position is its face index), and
// `preview` the saved detection image ({filename, subfolder, type}, as /view takes it).
import { app } from "../../../scripts/app.js";
import { api } from "../../../scripts/api.js";
import { faceCount, faceForKey, faceNumberPx, fitImages, boxPercent, stackingOrder } from "./hyperlora_logic.js";

const FACE_PICKING_NODES = ["HyperLoRAEncodeFace"];
const HINT_IDLE = "Run the node: the faces it finds appear here to click.";
const HINT_READY = "Click a face (or focus here and press its number) to use it in every photo.";
const HINT_FAILED = "The last run of this node stopped with an error, so there are no faces to pick. Fix what "
  + "the error says and run again.";
const GAP_PX = 4;
// The picker keeps room for the faces before the node has run too: a node that grew after a run would cover
// the node below it (the example workflows are spaced by the sizes nodes have when opened).
export const PICKER_HEIGHT = 180;
const FALLBACK_AREA_HEIGHT = 320; // when the frontend lets the widget grow with its content

function previewUrl({ filename, subfolder = "", type = "temp" }) {
  const query = new URLSearchParams({ filename, subfolder, type });
  return api.apiURL(`/view?${query}${app.getRandParam?.() ?? ""}`);
}

function widgetNamed(node, name) {
  return node.widgets?.find((widget) => widget.name === name);
}

function setWidget(node, name, value) {
  const widget = widgetNamed(node, name);
  if (!widget || widget.value === value) return;
  widget.value = value;
  widget.callback?.(value, app.canvas, node);
}

/** The face the widgets currently select by index, or -1 when another selection mode is on. */
function selectedIndex(node) {
  return widgetNamed(node, "face_selection")?.value === "index" ? widgetNamed(node, "face_index")?.value ?? -1 : -1;
}

class FacePicker {
  constructor(node) {
    this.node = node;
    this.faces = [];
    this.frames = [];
    this.element = document.createElement("div");
    this.element.className = "hyperlora-face-picker";
    this.element.tabIndex = 0;
    this.element.style.cssText = "display:flex;flex-direction:column;gap:2px;width:100%;height:100%;"
      + "box-sizing:border-box;font:12px/1.3 sans-serif;color:#ccc;outline-offset:-2px;overflow:hidden";
    this.hint = document.createElement("div");
    this.hint.textContent = HINT_IDLE;
    this.gallery = document.createElement("div");
    this.gallery.style.cssText = `display:flex;flex-wrap:nowrap;gap:${GAP_PX}px;justify-content:center;`
      + "align-items:flex-start;flex:1 1 auto;min-height:0;overflow:hidden";
    this.element.replaceChildren(this.hint, this.gallery);
    this.element.addEventListener("keydown", (event) => this.onKey(event));
    globalThis.ResizeObserver && new ResizeObserver(() => this.layout()).observe(this.gallery);
  }

  // `summary`: the node's own text about the result it returned (it comes with the result, also when ComfyUI
  // answers from its cache), so what the node says always matches what it returned.
  show(faces, legacyImages, summary) {
    this.faces = (faces ?? []).map((entry) => ({ ...entry, preview: entry.preview ?? legacyImages?.[entry.image] }))
      .filter((entry) => entry.preview && entry.width > 0 && entry.height > 0);
    this.frames = this.faces.map((entry) => this.frame(entry));
    this.gallery.replaceChildren(...this.frames);
    const next = faceCount(this.faces) ? HINT_READY : HINT_IDLE;
    this.hint.textContent = typeof summary === "string" && summary ? `${summary} ${next}` : next;
    this.layout();
    this.highlight();
    const needed = this.node.computeSize?.()?.[1]; // room for the previews; never shrink the node
    if (needed > this.node.size?.[1]) this.node.setSize?.([this.node.size[0], needed]);
    this.node.setDirtyCanvas?.(true, true);
  }

  frame(entry) {
    const frame = document.createElement("div");
    frame.style.cssText = "position:relative;flex:none";
    const image = document.createElement("img");
    image.src = previewUrl(entry.preview);
    image.alt = `detected faces in photo ${entry.image + 1}`;
    image.draggable = false;
    image.style.cssText = "display:block;width:100%;height:100%;user-select:none";
    frame.append(image);
    for (const index of stackingOrder(entry.boxes)) {
      const box = boxPercent(entry.boxes[index], entry.width, entry.height);
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.face = String(index);
      button.title = `Use face ${index} (face_index ${index})`;
      button.textContent = String(index);
      button.style.cssText = `position:absolute;left:${box.left}%;top:${box.top}%;width:${box.width}%;`
        + `height:${box.height}%;margin:0;padding:0 2px;box-sizing:border-box;background:transparent;`
        + "border:2px solid rgba(255,255,255,0.7);color:#fff;font:bold 12px sans-serif;text-align:left;"
        + "vertical-align:top;display:flex;align-items:flex-start;cursor:pointer;text-shadow:0 0 2px #000";
      button.addEventListener("pointerdown", (event) => event.stopPropagation()); // not a node drag
      button.addEventListener("click", (event) => {
        event.stopPropagation();
        this.select(index);
      });
      frame.append(button);
    }
    return frame;
  }

  layout() {
    const width = this.gallery.clientWidth;
    const height = this.gallery.clientHeight > 20 ? this.gallery.clientHeight : FALLBACK_AREA_HEIGHT;
    const sizes = fitImages(this.faces, width, height, GAP_PX);
    this.frames.forEach((frame, i) => {
      frame.style.width = `${sizes[i].width}px`;
      frame.style.height = `${sizes[i].height}px`;
      const numberPx = `${faceNumberPx(sizes[i].width, sizes[i].height)}px`;
      for (const button of frame.querySelectorAll?.("button[data-face]") ?? []) button.style.fontSize = numberPx;
    });
  }

  failed() {
    this.show([], undefined, undefined);
    this.hint.textContent = HINT_FAILED;
  }

  highlight() {
    const chosen = selectedIndex(this.node);
    for (const button of this.element.querySelectorAll("button[data-face]")) {
      const on = Number(button.dataset.face) === chosen;
      button.style.borderColor = on ? "#ffd200" : "rgba(255,255,255,0.7)";
      button.style.borderWidth = on ? "3px" : "2px";
      button.setAttribute("aria-pressed", String(on));
    }
  }

  select(index) {
    setWidget(this.node, "face_selection", "index");
    setWidget(this.node, "face_index", index);
    this.highlight();
    this.node.setDirtyCanvas?.(true, true);
  }

  onKey(event) {
    const index = faceForKey(event.key, selectedIndex(this.node), faceCount(this.faces));
    if (index < 0) return;
    event.preventDefault();
    event.stopPropagation(); // a digit here is for us, not a frontend shortcut
    this.select(index);
  }
}

app.registerExtension({
  name: "hyperlora.face_picking",
  setup() {
    // A failed run returned nothing: the faces of the run before must not stay up as if they were its result.
    api.addEventListener?.("execution_error", ({ detail }) => {
      const node = app.graph?.getNodeById?.(detail?.node_id);
      node?.hyperloraFacePicker?.failed();
    });
  },
  beforeRegisterNodeDef(nodeType, nodeData) {
    if (!FACE_PICKING_NODES.includes(nodeData.name)) return;
    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      onExecuted?.apply(this, arguments);
      this.hyperloraFacePicker?.show(message?.hyperlora_faces, message?.images, message?.hyperlora_summary?.[0]);
    };
  },
  nodeCreated(node) {
    if (!FACE_PICKING_NODES.includes(node.comfyClass) || !node.addDOMWidget) return;
    const picker = new FacePicker(node);
    node.hyperloraFacePicker = picker;
    const widget = node.addDOMWidget("face_picker", "hyperlora_face_picker", picker.element, {
      serialize: false,
      hideOnZoom: false,
      getValue: () => "",
      setValue: () => {},
      getMinHeight: () => PICKER_HEIGHT,
      getMaxHeight: () => PICKER_HEIGHT, // Nodes 2.0 sizes the widget by its content otherwise
    });
    widget.serialize = false; // display only: must not shift the node's saved widget values
    for (const name of ["face_selection", "face_index"]) { // typed values move the highlight too
      const input = widgetNamed(node, name);
      if (!input) continue;
      const callback = input.callback;
      input.callback = function () {
        const result = callback?.apply(this, arguments);
        picker.highlight();
        return result;
      };
    }
  },
});
