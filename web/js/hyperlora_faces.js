// Face picking: when a photo has several faces, click one in the Encode node's preview to
// select it (sets face_index, and face_selection to "index").
// The node sends, in its UI output, `hyperlora_faces`: [{image, width, height, boxes}] with the
// boxes in original image pixels, ordered left to right (so a box's position is its face index),
// and its preview images in the same order as the input images.
import { app } from "../../../scripts/app.js";
import { pickFace } from "./hyperlora_logic.js";

const FACE_PICKING_NODES = ["HyperLoRAEncodeFace"];
const PREVIEW_WIDGET_PREFIX = "$$canvas-image-preview";
const SIZE_CAPTION_HEIGHT = 15; // the "W x H" line the frontend may draw under a preview

function previewWidget(node) {
  return node.widgets?.find((widget) => widget.name?.startsWith(PREVIEW_WIDGET_PREFIX));
}

function setting(id) {
  try {
    return app.extensionManager?.setting?.get?.(id) ?? app.ui?.settings?.getSettingValue?.(id);
  } catch {
    return undefined;
  }
}

// Where the preview starts: the preview widget's row (current frontend), else below the last
// widget (older frontends drew the preview in the node background).
function previewTop(node, widget) {
  if (widget) return widget.y ?? widget.last_y ?? 0;
  if (node.imageOffset != null) return node.imageOffset;
  const last = node.widgets?.at(-1);
  if (!last) return 0;
  const height = last.computeSize
    ? last.computeSize(node.size[0])[1]
    : (globalThis.LiteGraph?.NODE_WIDGET_HEIGHT ?? 20);
  return (last.last_y ?? last.y ?? 0) + height + 4;
}

function faceIndexAt(node, point) {
  const imageIndex = node.imageIndex ?? (node.imgs?.length === 1 ? 0 : null);
  const image = imageIndex == null ? null : node.imgs?.[imageIndex];
  if (!node.hyperloraFaces || !image) return -1; // grid of thumbnails: the click picks an image first
  const widget = previewWidget(node);
  return pickFace({
    faces: node.hyperloraFaces,
    imageIndex,
    point,
    nodeWidth: node.size[0],
    nodeHeight: node.size[1],
    top: previewTop(node, widget),
    bottomReserve: widget && setting("Comfy.Node.AllowImageSizeDraw") !== false ? SIZE_CAPTION_HEIGHT : 0,
    displayed: { width: image.naturalWidth, height: image.naturalHeight },
    imageCount: node.imgs.length,
  });
}

function selectFace(node, index) {
  const setWidget = (name, value) => {
    const widget = node.widgets?.find((w) => w.name === name);
    if (!widget || widget.value === value) return;
    widget.value = value;
    widget.callback?.(value, app.canvas, node);
  };
  setWidget("face_selection", "index");
  setWidget("face_index", index);
  node.setDirtyCanvas?.(true, true);
}

// Current frontend: the preview is a canvas widget that takes the pointer before node.onMouseDown.
function hookPreviewWidget(node) {
  const widget = previewWidget(node);
  if (!widget || widget.hyperloraHooked) return;
  widget.hyperloraHooked = true;
  const original = widget.onPointerDown;
  widget.onPointerDown = function (pointer, ownerNode, canvas) {
    const handled = original ? original.call(this, pointer, ownerNode, canvas) : false;
    const down = pointer.eDown;
    const index = down ? faceIndexAt(node, [down.canvasX - node.pos[0], down.canvasY - node.pos[1]]) : -1;
    if (index < 0) return handled;
    pointer.onClick = () => selectFace(node, index); // a click picks, a drag still moves the node
    return true;
  };
}

app.registerExtension({
  name: "hyperlora.face_picking",
  beforeRegisterNodeDef(nodeType, nodeData) {
    if (!FACE_PICKING_NODES.includes(nodeData.name)) return;

    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      onExecuted?.apply(this, arguments);
      this.hyperloraFaces = message?.hyperlora_faces ?? null;
    };

    const onDrawForeground = nodeType.prototype.onDrawForeground;
    nodeType.prototype.onDrawForeground = function () {
      if (this.hyperloraFaces) hookPreviewWidget(this); // the widget appears after the images load
      return onDrawForeground?.apply(this, arguments);
    };

    // Older frontends: the preview is drawn in the node background and clicks reach the node.
    const onMouseDown = nodeType.prototype.onMouseDown;
    nodeType.prototype.onMouseDown = function (event, pos) {
      if (!previewWidget(this)) {
        const index = faceIndexAt(this, pos);
        if (index >= 0) {
          selectFace(this, index);
          return true;
        }
      }
      return onMouseDown?.apply(this, arguments);
    };
  },
});
