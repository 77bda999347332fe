"""The toolkit the example workflow families are written with: a `Workflow` that adds nodes by type with
widget values and links by socket name, lays them out in columns and groups, and writes ComfyUI's UI format;
the settings the README recommends; and the parts every family shares (model loaders, prompts, sampling,
one identity from photos). Families: workflows_generation.py, workflows_library.py, train_lora_workflows.py;
scripts/build_example_workflows.py writes them all.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.workflow_validation import _is_widget, _options, autogrow_sockets, combo_options, widget_slots

ROOT = Path(__file__).resolve().parents[1]  # imported as scripts.workflow_builder, so already on sys.path

# What the README tells users to install (model folders and files).
SDXL = "RealVisXL_V4.0.safetensors"
HYPERLORA = "sdxl_hyper_id_lora_v1_fidelity"
CLIP_VIT_L = "clip_vit_large_14.safetensors"
FACE_MODEL = "antelopev2"
CONTROLNET = "controlnet-openpose-sdxl-1.0.safetensors"
IDENTITY = "my_face"  # the saved identity the library and Train LoRA workflows use

# The recommended generation settings (a test checks every workflow keeps them).
CLIP_SKIP = -2
STRENGTH = 0.8
SAMPLER = {"steps": 30, "cfg": 6.0, "sampler_name": "dpmpp_2m", "scheduler": "karras"}
NEGATIVE = ("blurry, lowres, low quality, worst quality, jpeg artifacts, deformed face, bad anatomy, "
            "extra fingers, cartoon, watermark, text")

FILES_NOTE = (
    "Model files (folders under ComfyUI/models):\n"
    f"- hyper_lora/hyper_lora/{HYPERLORA}/  (HyperLoRA; or ..._edit)\n"
    f"- insightface/models/{FACE_MODEL}/  (face models)\n"
    f"- clip_vision/{CLIP_VIT_L}  (CLIP ViT-L/14; or swap in HyperLoRA CLIP Vision Loader "
    "for hyper_lora/clip_vit/clip_vit_large_14/)\n"
    f"- checkpoints/{SDXL}  (or another photoreal SDXL model)\n\n"
    "Keep: CLIP skip -2, HyperLoRA strength 0.75-0.85, and the trigger words first in the prompt "
    "(the Trigger Words node adds them).")

# Layout, in canvas pixels. A node's pos is the top-left of its body; its title bar sits above.
TITLE_H, NODE_GAP, GROUP_GAP, COLUMN_GAP = 30, 20, 80, 70
GROUP_PAD, GROUP_TITLE_H = 15, 45
SIZES = {"LoadImage": (315, 314), "SaveImage": (420, 460), "PreviewImage": (320, 300),
         "CLIPTextEncode": (400, 150), "HyperLoRATriggerWords": (400, 150), "Note": (400, 250)}
# Our loader nodes show which model files are installed (web/js/hyperlora_setup.js): leave room for it.
SETUP_STATUS_NODES = ("HyperLoRACheckpointLoader", "HyperLoRAFaceAnalyzerLoader", "HyperLoRACLIPVisionLoader")
SETUP_STATUS_H = 70
# The largest each node type was drawn, classic and Nodes 2.0, setup messages and photos showing (measured in
# the browser by scripts/measure_node_sizes.py): every node gets at least that size, so none covers another.
MEASURED_SIZES = ROOT / "scripts" / "node_sizes.json"
MEASURED = json.loads(MEASURED_SIZES.read_text(encoding="utf-8")) if MEASURED_SIZES.is_file() else {}
COLORS = {"positive": ("#232", "#353"), "negative": ("#322", "#533"), "note": ("#432", "#653")}
NOTE_TYPES = ("Note",)


@dataclass(frozen=True)
class Output:
    node: Node
    slot: int
    type: str


@dataclass(eq=False)
class Node:
    id: int
    type: str
    column: int
    group: str | None
    title: str | None
    color: str | None
    sockets: list  # (input name, type, optional)
    outputs: list  # (output name, type)
    widgets: list  # saved widget values, in the frontend's order
    widget_links: list = field(default_factory=list)  # (widget input name, type) turned into sockets
    size: tuple = (315, 100)
    pos: tuple = (0, 0)

    def __getitem__(self, name: str) -> Output:
        for slot, (output_name, kind) in enumerate(self.outputs):
            if output_name == name:
                return Output(self, slot, kind)
        raise KeyError(f"{self.type} has no output '{name}' (it has {[n for n, _ in self.outputs]})")


class Workflow:
    """Nodes and links of one workflow, written out in ComfyUI's UI format."""

    def __init__(self, name: str, schemas: dict):
        self.name, self.schemas = name, schemas
        self.nodes: list[Node] = []
        self.links: list[tuple] = []  # (id, origin node, origin slot, target node, target slot, type)

    def add(self, kind: str, column: int, group: str | None = None, title: str | None = None,
            color: str | None = None, **values) -> Node:
        """A node; `values` are widget values and links (an Output; a list of them for an Autogrow input such as
        BatchImagesNode's images) by input name."""
        if kind in NOTE_TYPES:
            node = Node(len(self.nodes) + 1, kind, column, group, title, "note", [], [], [values.pop("text")])
            node.size = _at_least_measured(kind, SIZES[kind])
            self.nodes.append(node)
            return node
        schema = self.schemas[kind]
        sockets = []
        for section, name, spec in _inputs(schema):
            grown = autogrow_sockets(name, spec)
            if grown:  # as the frontend saves one: the linked sockets and one free socket after them
                linked = values.pop(name, [])
                count = min(len(grown), max(_options(spec)["template"].get("min", 1), len(linked)) + 1)
                sockets += [(socket, socket_type, False) for socket, socket_type in grown[:count]]
                values.update({socket: source for (socket, _), source in zip(grown, linked)})
            elif not _is_widget(spec):
                sockets.append((name, spec[0], section == "optional"))
        outputs = list(zip(schema["output_name"], schema["output"]))
        node = Node(len(self.nodes) + 1, kind, column, group, title, color, sockets, outputs,
                    self._widget_values(kind, schema, values))
        node.size = _at_least_measured(kind, SIZES.get(kind) or _estimated_size(node))
        self.nodes.append(node)
        for name, value in values.items():
            if isinstance(value, Output):
                self.connect(value, node, name)
            elif name not in _widget_names(schema) and name != "control_after_generate":
                raise KeyError(f"{kind} has no input '{name}'")
        return node

    def _widget_values(self, kind: str, schema: dict, values: dict) -> list:
        saved = []
        for slot in widget_slots(schema):
            if slot.kind == "control":
                saved.append(values.get("control_after_generate", "randomize"))
            elif slot.kind == "upload":
                saved.append("image")
            elif slot.input_name in values and not isinstance(values[slot.input_name], Output):
                saved.append(values[slot.input_name])
            else:  # linked widgets keep their default value, as the frontend saves them
                saved.append(_default(kind, slot))
        return saved

    def connect(self, source: Output, target: Node, input_name: str) -> None:
        names = [name for name, _, _ in target.sockets]
        if input_name not in names:  # a widget fed by a link becomes a socket after the others
            specs = {name: spec for _, name, spec in _inputs(self.schemas[target.type])}
            if input_name not in specs:
                raise KeyError(f"{target.type} has no input '{input_name}'")
            target.widget_links.append((input_name, specs[input_name][0]))
            names += [name for name, _ in target.widget_links]
        link_id = len(self.links) + 1
        self.links.append((link_id, source.node, source.slot, target, names.index(input_name), source.type))

    # ------------------------------------------------------------ layout and JSON

    def layout(self) -> None:
        """Stack nodes in their columns, left to right; a gap where the group changes."""
        x = 0
        for column in sorted({n.column for n in self.nodes}):
            members = [n for n in self.nodes if n.column == column]
            y, previous = 0, None
            for node in members:
                if previous is not None:
                    y += NODE_GAP + TITLE_H + (GROUP_GAP if node.group != previous.group else 0)
                node.pos = (x, y)
                y += node.size[1]
                previous = node
            x += max(n.size[0] for n in members) + COLUMN_GAP

    def groups(self) -> list[dict]:
        result = []
        for number, title in enumerate(dict.fromkeys(n.group for n in self.nodes if n.group), start=1):
            members = [n for n in self.nodes if n.group == title]
            left = min(n.pos[0] for n in members) - GROUP_PAD
            top = min(n.pos[1] for n in members) - TITLE_H - GROUP_TITLE_H
            right = max(n.pos[0] + n.size[0] for n in members) + GROUP_PAD
            bottom = max(n.pos[1] + n.size[1] for n in members) + GROUP_PAD
            result.append({"id": number, "title": title, "bounding": [left, top, right - left, bottom - top],
                           "color": "#3f789e", "font_size": 24, "flags": {}})
        return result

    def execution_order(self) -> dict[int, int]:
        """Topological order (ties by id), as the frontend numbers `order`."""
        inputs = {n.id: {link[1].id for link in self.links if link[3] is n} for n in self.nodes}
        order, done = {}, set()
        while len(done) < len(self.nodes):
            ready = min(i for i, needs in inputs.items() if i not in done and needs <= done)
            order[ready] = len(order)
            done.add(ready)
        return order

    def to_json(self) -> dict:
        self.layout()
        order = self.execution_order()
        nodes = [self._node_json(n, order[n.id]) for n in self.nodes]
        left = min(n.pos[0] for n in self.nodes)
        top = min(n.pos[1] for n in self.nodes)
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"comfyui-hyperlora/example_workflows/{self.name}")),
            "revision": 0,
            "last_node_id": len(self.nodes),
            "last_link_id": len(self.links),
            "nodes": nodes,
            "links": [[i, a.id, a_slot, b.id, b_slot, kind] for i, a, a_slot, b, b_slot, kind in self.links],
            "groups": self.groups(),
            "config": {},
            "extra": {"ds": {"scale": 0.6, "offset": [120 - left, 140 - top]}},
            "version": 0.4,
        }

    def _node_json(self, node: Node, order: int) -> dict:
        links_in = {b_slot: i for i, _, _, b, b_slot, _ in self.links if b is node}
        inputs = []
        for slot, (name, kind, optional) in enumerate(node.sockets):
            entry = {"name": name, **({"shape": 7} if optional else {}), "type": kind}
            inputs.append({**entry, "link": links_in.get(slot)})
        for slot, (name, kind) in enumerate(node.widget_links, start=len(node.sockets)):
            inputs.append({"name": name, "type": kind, "widget": {"name": name}, "link": links_in.get(slot)})
        outputs = [{"name": name, "type": kind,
                    "links": [i for i, a, a_slot, _, _, _ in self.links if a is node and a_slot == slot]}
                   for slot, (name, kind) in enumerate(node.outputs)]
        result = {"id": node.id, "type": node.type, "pos": list(node.pos), "size": list(node.size), "flags": {},
                  "order": order, "mode": 0, "inputs": inputs, "outputs": outputs}
        if node.title:
            result["title"] = node.title
        result["properties"] = {} if node.type in NOTE_TYPES else {"Node name for S&R": node.type}
        result["widgets_values"] = node.widgets
        if node.color:
            result["color"], result["bgcolor"] = COLORS[node.color]
        return result


def _inputs(schema: dict) -> list[tuple[str, str, list]]:
    """(section, name, spec) of every required and optional input, in the schema's input order."""
    order = schema.get("input_order", {})
    return [(section, name, schema["input"][section][name]) for section in ("required", "optional")
            for name in order.get(section) or schema["input"].get(section, {})]


def _widget_names(schema: dict) -> set[str]:
    return {slot.input_name for slot in widget_slots(schema)}


def _default(kind: str, slot) -> object:
    spec = slot.spec
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if "default" in options:
        return options["default"]
    choices = combo_options(spec) if isinstance(spec[0], list) or spec[0] == "COMBO" else []
    if choices and not options.get("image_upload"):
        return choices[0]
    if spec[0] == "STRING":
        return ""
    if spec[0] in ("INT", "FLOAT"):  # the frontend's default for a number without one
        return max(0, options.get("min", 0))
    raise ValueError(f"{kind} widget '{slot.input_name}' has no default: give its value in the description")


def _at_least_measured(kind: str, size: tuple[int, int]) -> tuple[int, int]:
    measured = MEASURED.get(kind, (0, 0))
    return max(size[0], measured[0]), max(size[1], measured[1])


def _estimated_size(node: Node) -> tuple[int, int]:
    rows = max(len(node.sockets) + len(node.widget_links), len(node.outputs), 1)
    status = SETUP_STATUS_H if node.type in SETUP_STATUS_NODES else 0
    return 315, 16 + 22 * rows + 26 * len(node.widgets) + status


# ---------------------------------------------------------------- the shared parts


def models(wf: Workflow, *, face_models: bool = True) -> dict:
    """Checkpoint, HyperLoRA, CLIP ViT-L/14 and face analyzer loaders, in the 'Models' group."""
    found = {"sdxl": wf.add("CheckpointLoaderSimple", 0, "Models", ckpt_name=SDXL),
             "hyperlora": wf.add("HyperLoRACheckpointLoader", 0, "Models", checkpoint=HYPERLORA)}
    if face_models:
        found["clip_vision"] = wf.add("CLIPVisionLoader", 0, "Models", clip_name=CLIP_VIT_L)
        found["face_analyzer"] = wf.add("HyperLoRAFaceAnalyzerLoader", 0, "Models", face_model=FACE_MODEL)
    return found


def prompts(wf: Workflow, column: int, clip: Output, prompt: str) -> tuple[Node, Node]:
    """CLIP skip -2, the trigger words before the prompt, and a negative prompt."""
    skip = wf.add("CLIPSetLastLayer", column, "Prompt", clip=clip, stop_at_clip_layer=CLIP_SKIP)
    words = wf.add("HyperLoRATriggerWords", column, "Prompt", title="Prompt (trigger words are added)",
                   prompt=prompt)
    positive = wf.add("CLIPTextEncode", column, "Prompt", title="Positive", color="positive",
                      clip=skip["CLIP"], text=words["prompt"])
    negative = wf.add("CLIPTextEncode", column, "Prompt", title="Negative", color="negative",
                      clip=skip["CLIP"], text=NEGATIVE)
    return positive, negative


def generate(wf: Workflow, column: int, model: Output, positive: Output, negative: Output, vae: Output,
             prefix: str, seed_control: str = "randomize") -> None:
    """SDXL 1024x1024, KSampler with the recommended settings, decode and save."""
    latent = wf.add("EmptyLatentImage", column, "Generate", width=1024, height=1024, batch_size=1)
    sampler = wf.add("KSampler", column, "Generate", model=model, positive=positive, negative=negative,
                     latent_image=latent["LATENT"], seed=42, control_after_generate=seed_control, denoise=1.0,
                     **SAMPLER)
    decoded = wf.add("VAEDecode", column, "Generate", samples=sampler["LATENT"], vae=vae)
    wf.add("SaveImage", column + 1, "Generate", images=decoded["IMAGE"], filename_prefix=f"hyperlora/{prefix}")


def apply_and_generate(wf: Workflow, column: int, m: dict, coefficients: Output, prompt: str, prefix: str,
                       seed_control: str = "randomize") -> None:
    """HyperLoRA Apply at the recommended strength, then prompts and sampling in the next two columns."""
    identity = wf.add("HyperLoRAApply", column, "Identity", model=m["sdxl"]["MODEL"], coefficients=coefficients,
                      id_strength=STRENGTH, base_strength=0.0)
    positive, negative = prompts(wf, column + 1, m["sdxl"]["CLIP"], prompt)
    generate(wf, column + 2, identity["model"], positive["CONDITIONING"], negative["CONDITIONING"], m["sdxl"]["VAE"],
             prefix, seed_control)


def batch_images(wf: Workflow, column: int, group: str, images: list[Output]) -> Output:
    """One batch of photos with the node the release recommends: core Batch Images (BatchImagesNode, one
    socket per photo) where it exists, since ComfyUI 0.14 deprecates ImageBatch; on 0.3.x a chain of ImageBatch."""
    if "BatchImagesNode" in wf.schemas:
        return wf.add("BatchImagesNode", column, group, images=list(images))["IMAGE"]
    batch = images[0]
    for image in images[1:]:
        batch = wf.add("ImageBatch", column, group, image1=batch, image2=image)["IMAGE"]
    return batch


def face_identity(wf: Workflow, column: int, group: str, m: dict, image: Output, label: str = "",
                  base_condition: bool = True) -> tuple[Node, Node]:
    """Encode Face then Predict Coefficients: one identity from a photo (or a batch of photos).

    Returns (predict node, encode node)."""
    encode = wf.add("HyperLoRAEncodeFace", column, group, title=f"HyperLoRA Encode Face{label}", images=image,
                    clip_vision=m["clip_vision"]["CLIP_VISION"], face_analyzer=m["face_analyzer"]["face_analyzer"],
                    base_condition=base_condition)
    return wf.add("HyperLoRAPredictCoefficients", column, group, title=f"HyperLoRA Predict Coefficients{label}",
                  hyperlora=m["hyperlora"]["hyperlora"], face=encode["face"]), encode


@dataclass(frozen=True)
class Example:
    name: str
    summary: str
    chain: str
    build: object  # (Workflow) -> None
