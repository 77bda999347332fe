"""Write example_workflows/*.json (and the README's table of them) from the short descriptions below.

    python scripts/build_example_workflows.py           # rewrite the files
    python scripts/build_example_workflows.py --check   # exit 1 if a committed file is stale

A description names nodes, the widget values that differ from the node's defaults, and links by
socket name (`model=checkpoint["MODEL"]`). Sockets, widget order, ids, execution order and layout
come from the node schemas (core /object_info + this pack), so every file is saved the way
ComfyUI's frontend saves one (UI format, version 0.4) and all of them stay alike.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.readme_section import replace_section
from tests.workflow_validation import (
    RELEASE_VARIANT,
    _is_widget,
    combo_options,
    load_pack_schemas,
    release_schemas,
    releases_of,
    supported_releases,
    widget_slots,
)

OUT_DIR = ROOT / "example_workflows"
README = ROOT / "README.md"
START, END = "<!-- workflows:start -->", "<!-- workflows:end -->"

# What the README tells users to install (model folders and files).
SDXL = "RealVisXL_V4.0.safetensors"
HYPERLORA = "sdxl_hyper_id_lora_v1_fidelity"
CLIP_VIT_L = "clip_vit_large_14.safetensors"
FACE_MODEL = "antelopev2"
CONTROLNET = "controlnet-openpose-sdxl-1.0.safetensors"

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
        """A node; `values` are widget values and links (an Output) by input name."""
        if kind in NOTE_TYPES:
            node = Node(len(self.nodes) + 1, kind, column, group, title, "note", [], [], [values.pop("text")])
            node.size = _at_least_measured(kind, SIZES[kind])
            self.nodes.append(node)
            return node
        schema = self.schemas[kind]
        sockets = [(name, spec[0], section == "optional") for section, name, spec in _inputs(schema)
                   if not _is_widget(spec)]
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


def face_identity(wf: Workflow, column: int, group: str, m: dict, image: Output, label: str = "",
                  base_condition: bool = True) -> tuple[Node, Node]:
    """Encode Face then Predict Coefficients: one identity from a photo (or a batch of photos).

    Returns (predict node, encode node)."""
    encode = wf.add("HyperLoRAEncodeFace", column, group, title=f"HyperLoRA Encode Face{label}", images=image,
                    clip_vision=m["clip_vision"]["CLIP_VISION"], face_analyzer=m["face_analyzer"]["face_analyzer"],
                    base_condition=base_condition)
    return wf.add("HyperLoRAPredictCoefficients", column, group, title=f"HyperLoRA Predict Coefficients{label}",
                  hyperlora=m["hyperlora"]["hyperlora"], face=encode["face"]), encode


# ---------------------------------------------------------------- the workflows


@dataclass(frozen=True)
class Example:
    name: str
    summary: str
    chain: str
    build: object  # (Workflow) -> None


def one_photo(wf: Workflow) -> None:
    wf.add("Note", 0, text=FILES_NOTE + "\n\nLoad a clear, frontal photo of one face, then queue.")
    m = models(wf)
    photo = wf.add("LoadImage", 0, "Face photo", image="face.jpg")
    positive, negative = prompts(wf, 1, m["sdxl"]["CLIP"], "portrait photo of a person, upper body, natural "
                                 "light, detailed skin, sharp focus, 85mm")
    identity = wf.add("HyperLoRAApplyFace", 1, "Identity", model=m["sdxl"]["MODEL"],
                      hyperlora=m["hyperlora"]["hyperlora"], clip_vision=m["clip_vision"]["CLIP_VISION"],
                      face_analyzer=m["face_analyzer"]["face_analyzer"], image=photo["IMAGE"], strength=STRENGTH)
    generate(wf, 2, identity["model"], positive["CONDITIONING"], negative["CONDITIONING"], m["sdxl"]["VAE"],
             "one_photo")


def several_photos(wf: Workflow) -> None:
    wf.add("Note", 0, text=FILES_NOTE + "\n\nSeveral photos of the SAME person average out light and pose. "
           "Batch Images resizes every photo to the first one's size (centre crop), so use photos of "
           "similar shape. The crops preview shows what CLIP saw.")
    m = models(wf)
    photos = [wf.add("LoadImage", 1, "Photos of one person", title=f"Photo {i}", image=f"face_{i}.jpg")
              for i in (1, 2, 3)]
    batch = wf.add("ImageBatch", 1, "Photos of one person", image1=photos[0]["IMAGE"], image2=photos[1]["IMAGE"])
    batch = wf.add("ImageBatch", 1, "Photos of one person", image1=batch["IMAGE"], image2=photos[2]["IMAGE"])
    coefficients, encode = face_identity(wf, 2, "Identity", m, batch["IMAGE"])
    wf.add("PreviewImage", 2, "Identity", title="Face crops", images=encode["face_crops"])
    identity = wf.add("HyperLoRAApply", 2, "Identity", model=m["sdxl"]["MODEL"],
                      coefficients=coefficients["coefficients"], id_strength=STRENGTH, base_strength=0.0)
    positive, negative = prompts(wf, 3, m["sdxl"]["CLIP"], "photo of a person sitting in a cafe, soft window "
                                 "light, detailed skin, sharp focus")
    generate(wf, 4, identity["model"], positive["CONDITIONING"], negative["CONDITIONING"], m["sdxl"]["VAE"],
             "several_photos")


def controlnet(wf: Workflow) -> None:
    wf.add("Note", 0, text=FILES_NOTE + f"\n- controlnet/{CONTROLNET}  (an SDXL OpenPose or depth ControlNet)"
           "\n\nLoad a pose (or depth) image that matches the ControlNet. The identity comes from the LoRA, "
           "the pose from the ControlNet; lower the ControlNet strength if the face suffers.")
    m = models(wf)
    net = wf.add("ControlNetLoader", 0, "Models", control_net_name=CONTROLNET)
    photo = wf.add("LoadImage", 1, "Face photo", image="face.jpg")
    identity = wf.add("HyperLoRAApplyFace", 1, "Face photo", model=m["sdxl"]["MODEL"],
                      hyperlora=m["hyperlora"]["hyperlora"], clip_vision=m["clip_vision"]["CLIP_VISION"],
                      face_analyzer=m["face_analyzer"]["face_analyzer"], image=photo["IMAGE"], strength=STRENGTH)
    pose = wf.add("LoadImage", 1, "Pose", title="Pose (or depth) image", image="pose.png")
    positive, negative = prompts(wf, 2, m["sdxl"]["CLIP"], "full body photo of a person standing in a park, "
                                 "casual clothes, natural light, sharp focus")
    control = wf.add("ControlNetApplyAdvanced", 2, "Prompt", positive=positive["CONDITIONING"],
                     negative=negative["CONDITIONING"], control_net=net["CONTROL_NET"], image=pose["IMAGE"],
                     strength=0.7, start_percent=0.0, end_percent=0.8)
    generate(wf, 3, identity["model"], control["positive"], control["negative"], m["sdxl"]["VAE"], "controlnet")


def concept_slider(wf: Workflow) -> None:
    wf.add("Note", 0, text=FILES_NOTE + "\n\nThe slider moves the identity from the concept of image A towards "
           "that of image B (e.g. a neutral and a smiling face, young and old). The seed is fixed: change "
           "only the slider strength (-1..1) and compare.")
    m = models(wf)
    photo = wf.add("LoadImage", 1, "Identity", image="face.jpg")
    identity = wf.add("HyperLoRAApplyFace", 1, "Identity", model=m["sdxl"]["MODEL"],
                      hyperlora=m["hyperlora"]["hyperlora"], clip_vision=m["clip_vision"]["CLIP_VISION"],
                      face_analyzer=m["face_analyzer"]["face_analyzer"], image=photo["IMAGE"], strength=STRENGTH)
    image_a = wf.add("LoadImage", 1, "Concept images", title="Image A (from, e.g. neutral)",
                     image="concept_a_neutral.jpg")
    image_b = wf.add("LoadImage", 1, "Concept images", title="Image B (to, e.g. smiling)",
                     image="concept_b_smiling.jpg")
    a, _ = face_identity(wf, 2, "Slider", m, image_a["IMAGE"], " (A)", base_condition=False)
    b, _ = face_identity(wf, 2, "Slider", m, image_b["IMAGE"], " (B)", base_condition=False)
    slider = wf.add("HyperLoRAConceptSlider", 2, "Slider", model=identity["model"],
                    coefficients_a=a["coefficients"], coefficients_b=b["coefficients"], strength=0.5)
    positive, negative = prompts(wf, 3, m["sdxl"]["CLIP"], "close-up portrait photo of a person, natural light, "
                                 "detailed skin, sharp focus")
    generate(wf, 4, slider["model"], positive["CONDITIONING"], negative["CONDITIONING"], m["sdxl"]["VAE"],
             "concept_slider", seed_control="fixed")


def mix_identities(wf: Workflow) -> None:
    wf.add("Note", 0, text=FILES_NOTE + "\n\nWeights are relative: 0.5 and 0.5 is half and half, 0.7 and 0.3 "
           "leans towards person A. Up to four identities can be mixed. The seed is fixed to compare weights.")
    m = models(wf)
    person_a = wf.add("LoadImage", 1, "Two people", title="Person A", image="person_a.jpg")
    person_b = wf.add("LoadImage", 1, "Two people", title="Person B", image="person_b.jpg")
    a, _ = face_identity(wf, 2, "Identity", m, person_a["IMAGE"], " (A)")
    b, _ = face_identity(wf, 2, "Identity", m, person_b["IMAGE"], " (B)")
    mixed = wf.add("HyperLoRAMixIdentities", 2, "Identity", coefficients_1=a["coefficients"], weight_1=0.5,
                   coefficients_2=b["coefficients"], weight_2=0.5)
    identity = wf.add("HyperLoRAApply", 2, "Identity", model=m["sdxl"]["MODEL"],
                      coefficients=mixed["coefficients"], id_strength=STRENGTH, base_strength=0.0)
    positive, negative = prompts(wf, 3, m["sdxl"]["CLIP"], "portrait photo of a person in a denim jacket, city "
                                 "street, golden hour, detailed skin, sharp focus")
    generate(wf, 4, identity["model"], positive["CONDITIONING"], negative["CONDITIONING"], m["sdxl"]["VAE"],
             "mix_identities", seed_control="fixed")


def save_lora(wf: Workflow) -> None:
    wf.add("Note", 0, text=FILES_NOTE + "\n\nExport LoRA writes models/loras/hyperlora_face_00001_.safetensors "
           "(destination loras; 'output' writes into ComfyUI/output instead). Core Load LoRA lists it at once "
           "(strength ~0.8, same trigger words); key_style kohya for kohya sd-scripts, comfy_trainer to continue "
           "training it with core Train LoRA (hyperlora_refine_with_train_lora). The image below is optional: it "
           "shows the same identity through HyperLoRA Apply.")
    m = models(wf)
    photo = wf.add("LoadImage", 1, "Face photo", image="face.jpg")
    coefficients, _ = face_identity(wf, 2, "Identity", m, photo["IMAGE"])
    wf.add("HyperLoRAExportLoRA", 2, "Identity", coefficients=coefficients["coefficients"],
           filename_prefix="loras/hyperlora_face", recommended_strength=STRENGTH, destination="loras")
    identity = wf.add("HyperLoRAApply", 2, "Identity", model=m["sdxl"]["MODEL"],
                      coefficients=coefficients["coefficients"], id_strength=STRENGTH, base_strength=0.0)
    positive, negative = prompts(wf, 3, m["sdxl"]["CLIP"], "portrait photo of a person wearing a suit, studio "
                                 "lighting, detailed skin, sharp focus")
    generate(wf, 4, identity["model"], positive["CONDITIONING"], negative["CONDITIONING"], m["sdxl"]["VAE"],
             "save_lora")


def two_people(wf: Workflow) -> None:
    wf.add("Note", 0, text=FILES_NOTE + "\n\nTwo people in one image: person A's identity only in the left half, "
           "B's only in the right half; the prompt draws the scene and everything outside both masks. Model, "
           "positive and negative go through both Apply to Conditioning nodes to the KSampler; the people and "
           "the background share one batched model pass per step. Masks are 1024 x 1024 like the latent; draw "
           "your own (or use HyperLoRA Face Mask on a layout image) for other compositions.")
    m = models(wf)
    person_a = wf.add("LoadImage", 1, "Two people", title="Person A (left)", image="person_a.jpg")
    person_b = wf.add("LoadImage", 1, "Two people", title="Person B (right)", image="person_b.jpg")
    a, _ = face_identity(wf, 2, "Identities", m, person_a["IMAGE"], " (A)")
    b, _ = face_identity(wf, 2, "Identities", m, person_b["IMAGE"], " (B)")
    empty = wf.add("SolidMask", 3, "Masks", title="Empty 1024 x 1024", value=0.0, width=1024, height=1024)
    half = wf.add("SolidMask", 3, "Masks", title="Half (512 x 1024)", value=1.0, width=512, height=1024)
    left = wf.add("MaskComposite", 3, "Masks", title="Left half", destination=empty["MASK"], source=half["MASK"],
                  x=0, y=0, operation="add")
    right = wf.add("MaskComposite", 3, "Masks", title="Right half", destination=empty["MASK"],
                   source=half["MASK"], x=512, y=0, operation="add")
    positive, negative = prompts(wf, 4, m["sdxl"]["CLIP"], "photo of two people standing side by side in a "
                                 "park, looking at the camera, natural light, detailed skin, sharp focus")
    with_a = wf.add("HyperLoRAApplyConditioning", 4, "Prompt", title="Person A on the left",
                    model=m["sdxl"]["MODEL"], positive=positive["CONDITIONING"], negative=negative["CONDITIONING"],
                    coefficients=a["coefficients"], strength=STRENGTH, mask=left["MASK"])
    with_b = wf.add("HyperLoRAApplyConditioning", 4, "Prompt", title="Person B on the right",
                    model=with_a["model"], positive=with_a["positive"], negative=with_a["negative"],
                    coefficients=b["coefficients"], strength=STRENGTH, mask=right["MASK"])
    generate(wf, 5, with_b["model"], with_b["positive"], with_b["negative"], m["sdxl"]["VAE"], "two_people")


def late_identity(wf: Workflow) -> None:
    wf.add("Note", 0, text=FILES_NOTE + "\n\nThe identity starts at 30 % of the steps: the first steps follow "
           "the prompt alone and settle the composition, pose and framing; the face comes after. One model "
           "pass per step, as with HyperLoRA Apply; the model goes through Apply to Conditioning to the "
           "KSampler. fade_in softens the start.")
    m = models(wf)
    photo = wf.add("LoadImage", 1, "Face photo", image="face.jpg")
    coefficients, _ = face_identity(wf, 2, "Identity", m, photo["IMAGE"])
    positive, negative = prompts(wf, 3, m["sdxl"]["CLIP"], "wide shot photo of a person riding a bicycle "
                                 "through a city street at dusk, motion, cinematic light, sharp focus")
    identity = wf.add("HyperLoRAApplyConditioning", 3, "Prompt", title="Identity from step 30 %",
                      model=m["sdxl"]["MODEL"], positive=positive["CONDITIONING"], negative=negative["CONDITIONING"],
                      coefficients=coefficients["coefficients"], strength=STRENGTH, start_at=0.3, end_at=1.0,
                      fade_in=0.1)
    generate(wf, 4, identity["model"], identity["positive"], identity["negative"], m["sdxl"]["VAE"],
             "identity_from_30_percent")


def face_redraw(wf: Workflow) -> None:
    wf.add("Note", 0, text=FILES_NOTE + "\n\nRedraws the face of an existing image (an earlier render) with "
           "the identity, leaving the rest untouched: Face Mask finds the face, the identity is applied only "
           "there, the core inpaint nodes redraw it (denoise 0.6: lower keeps more of the old face), and "
           "the result is pasted back through the same mask. For several faces, set face_selection to index "
           "and chain one redraw per face.")
    m = models(wf)
    photo = wf.add("LoadImage", 2, "Identity", title="Face photo (the identity)", image="face.jpg")
    coefficients, _ = face_identity(wf, 2, "Identity", m, photo["IMAGE"])
    picture = wf.add("LoadImage", 1, "Image to redraw", title="Image to redraw", image="render.png")
    face_mask = wf.add("HyperLoRAFaceMask", 1, "Image to redraw", image=picture["IMAGE"],
                       face_analyzer=m["face_analyzer"]["face_analyzer"], face_selection="largest",
                       shape="outline", grow=0.15, grow_unit="face fraction", feather=16.0)
    wf.add("PreviewImage", 1, "Image to redraw", title="Face mask", images=face_mask["preview"])
    positive, negative = prompts(wf, 3, m["sdxl"]["CLIP"], "close-up photo of a person's face, natural skin "
                                 "texture, detailed eyes, sharp focus")
    identity = wf.add("HyperLoRAApplyConditioning", 3, "Prompt", title="Identity at the face",
                      model=m["sdxl"]["MODEL"], positive=positive["CONDITIONING"], negative=negative["CONDITIONING"],
                      coefficients=coefficients["coefficients"], strength=STRENGTH, mask=face_mask["mask"])
    inpaint = wf.add("InpaintModelConditioning", 4, "Redraw", positive=identity["positive"],
                     negative=identity["negative"], vae=m["sdxl"]["VAE"], pixels=picture["IMAGE"],
                     mask=face_mask["mask"], noise_mask=True)
    sampler = wf.add("KSampler", 4, "Redraw", model=identity["model"], positive=inpaint["positive"],
                     negative=inpaint["negative"], latent_image=inpaint["latent"], seed=42,
                     control_after_generate="randomize", denoise=0.6, **SAMPLER)
    decoded = wf.add("VAEDecode", 4, "Redraw", samples=sampler["LATENT"], vae=m["sdxl"]["VAE"])
    pasted = wf.add("ImageCompositeMasked", 4, "Redraw", title="Paste the new face back",
                    destination=picture["IMAGE"], source=decoded["IMAGE"], x=0, y=0, resize_source=False,
                    mask=face_mask["mask"])
    wf.add("SaveImage", 5, "Redraw", images=pasted["IMAGE"], filename_prefix="hyperlora/face_redraw")


EXAMPLES = (
    Example("hyperlora_one_photo", "Text to image with the likeness of one photo: the 4-node shortcut.",
            "Load Image → HyperLoRA Apply Face (+ Checkpoint Loader, Load CLIP Vision, Face Analyzer Loader) → "
            "KSampler → VAE Decode → Save Image", one_photo),
    Example("hyperlora_several_photos", "Several photos of one person fused into one identity, with a preview "
            "of the face crops.", "Load Image ×3 → Batch Images ×2 → HyperLoRA Encode Face (→ Preview Image) → "
            "HyperLoRA Predict Coefficients → HyperLoRA Apply → KSampler", several_photos),
    Example("hyperlora_controlnet", "The identity in a given pose, with an SDXL ControlNet (OpenPose or depth).",
            "Load Image → HyperLoRA Apply Face → KSampler ← Apply ControlNet ← Load ControlNet + Load Image (pose)",
            controlnet),
    Example("hyperlora_concept_slider", "A slider from the concept of image A to that of image B (e.g. neutral "
            "→ smiling) on top of the identity.", "HyperLoRA Apply Face → HyperLoRA Concept Slider ← "
            "(Encode Face → Predict Coefficients) ×2 for images A and B → KSampler", concept_slider),
    Example("hyperlora_mix_identities", "A blend of two people (weights 0.5 / 0.5).",
            "(Load Image → HyperLoRA Encode Face → HyperLoRA Predict Coefficients) ×2 → HyperLoRA Mix "
            "Identities → HyperLoRA Apply → KSampler", mix_identities),
    Example("hyperlora_save_lora", "Saves the identity as a normal SDXL LoRA file, and generates an image with "
            "it.", "Load Image → HyperLoRA Encode Face → HyperLoRA Predict Coefficients → HyperLoRA Export LoRA "
            "(and → HyperLoRA Apply → KSampler)", save_lora),
    Example("hyperlora_two_people", "Two people in one image: identity A in the left half, B in the right, "
            "the prompt for the rest.", "(Load Image → Encode Face → Predict Coefficients) ×2 + Solid Mask → Mask "
            "Composite (left / right) → HyperLoRA Apply to Conditioning ×2 (chained: model, positive, negative) → "
            "KSampler", two_people),
    Example("hyperlora_identity_from_30_percent", "The identity only from 30 % of the steps on: the prompt "
            "sets the composition first.", "Load Image → Encode Face → Predict Coefficients → HyperLoRA Apply "
            "to Conditioning (start_at 0.3) → KSampler", late_identity),
    Example("hyperlora_face_redraw", "Redraws the face of an existing image with the identity (the core-only "
            "answer to a FaceDetailer pass).", "Load Image → HyperLoRA Face Mask → HyperLoRA Apply to "
            "Conditioning (mask; model → KSampler) → Inpaint Model Conditioning → KSampler → VAE Decode → Image Composite Masked",
            face_redraw),
)


# ---------------------------------------------------------------- identity library, likeness, Train LoRA

IDENTITY = "my_face"  # also scripts/train_lora_workflows.IDENTITY


def save_identity(wf: Workflow) -> None:
    wf.add("Note", 0, text=FILES_NOTE + f"\n\nRun this once per person: it writes models/hyper_lora/identities/"
           f"{IDENTITY}.safetensors (coefficients, face thumbnail, ArcFace reference). From then on "
           "hyperlora_from_saved_identity needs no photos and no face models. An existing name is never "
           "replaced unless 'overwrite' is on. The image is optional: the identity through Apply.")
    m = models(wf)
    photos = [wf.add("LoadImage", 1, "Photos of one person", title=f"Photo {i}", image=f"face_{i}.jpg")
              for i in (1, 2)]
    batch = wf.add("ImageBatch", 1, "Photos of one person", image1=photos[0]["IMAGE"], image2=photos[1]["IMAGE"])
    coefficients, encode = face_identity(wf, 2, "Identity", m, batch["IMAGE"])
    wf.add("PreviewImage", 2, "Identity", title="Face crops", images=encode["face_crops"])
    wf.add("HyperLoRASaveIdentity", 2, "Identity", coefficients=coefficients["coefficients"], name=IDENTITY)
    identity = wf.add("HyperLoRAApply", 2, "Identity", model=m["sdxl"]["MODEL"],
                      coefficients=coefficients["coefficients"], id_strength=STRENGTH, base_strength=0.0)
    positive, negative = prompts(wf, 3, m["sdxl"]["CLIP"], "portrait photo of a person, natural light, "
                                 "detailed skin, sharp focus")
    generate(wf, 4, identity["model"], positive["CONDITIONING"], negative["CONDITIONING"], m["sdxl"]["VAE"],
             "save_identity")


def from_saved_identity(wf: Workflow) -> None:
    wf.add("Note", 0, text=FILES_NOTE + f"\n\nUses an identity saved with HyperLoRA Save Identity "
           f"({IDENTITY}.safetensors): no photos, no CLIP vision, no face models. Pick it in Load Identity (the "
           "face under the list shows who it is); it must be used with the checkpoint that saved it.")
    m = models(wf, face_models=False)
    loaded = wf.add("HyperLoRALoadIdentity", 1, "Identity", hyperlora=m["hyperlora"]["hyperlora"],
                    identity=f"{IDENTITY}.safetensors")
    identity = wf.add("HyperLoRAApply", 1, "Identity", model=m["sdxl"]["MODEL"],
                      coefficients=loaded["coefficients"], id_strength=STRENGTH, base_strength=0.0)
    positive, negative = prompts(wf, 2, m["sdxl"]["CLIP"], "photo of a person hiking in the mountains, "
                                 "morning light, detailed skin, sharp focus")
    generate(wf, 3, identity["model"], positive["CONDITIONING"], negative["CONDITIONING"], m["sdxl"]["VAE"],
             "from_saved_identity")


def rank_by_likeness(wf: Workflow) -> None:
    wf.add("Note", 0, text=FILES_NOTE + "\n\nGenerates four images of the saved identity and ranks them by "
           "likeness: the ArcFace cosine ('ID similarity' in papers) to the reference. Roughly: above 0.5 "
           "clearly the same person, below 0.2 someone else. The best image is saved, all four are previewed "
           "with their scores.")
    m = models(wf, face_models=False)
    analyzer = wf.add("HyperLoRAFaceAnalyzerLoader", 0, "Models", face_model=FACE_MODEL)
    loaded = wf.add("HyperLoRALoadIdentity", 1, "Identity", hyperlora=m["hyperlora"]["hyperlora"],
                    identity=f"{IDENTITY}.safetensors")
    identity = wf.add("HyperLoRAApply", 1, "Identity", model=m["sdxl"]["MODEL"],
                      coefficients=loaded["coefficients"], id_strength=STRENGTH, base_strength=0.0)
    positive, negative = prompts(wf, 2, m["sdxl"]["CLIP"], "portrait photo of a person reading in a library, "
                                 "warm light, detailed skin, sharp focus")
    latent = wf.add("EmptyLatentImage", 3, "Generate four", width=1024, height=1024, batch_size=4)
    sampler = wf.add("KSampler", 3, "Generate four", model=identity["model"], positive=positive["CONDITIONING"],
                     negative=negative["CONDITIONING"], latent_image=latent["LATENT"], seed=42,
                     control_after_generate="randomize", denoise=1.0, **SAMPLER)
    decoded = wf.add("VAEDecode", 3, "Generate four", samples=sampler["LATENT"], vae=m["sdxl"]["VAE"])
    likeness = wf.add("HyperLoRALikeness", 4, "Rank by likeness", images=decoded["IMAGE"],
                      face_analyzer=analyzer["face_analyzer"], coefficients=loaded["coefficients"], top_k=1)
    wf.add("PreviewImage", 4, "Rank by likeness", title="All four, with their scores", images=likeness["preview"])
    wf.add("SaveImage", 5, "Rank by likeness", title="The most alike", images=likeness["ranked"],
           filename_prefix="hyperlora/rank_by_likeness")


EXAMPLES += (
    Example("hyperlora_save_identity", "Saves an identity from photos once, into the identity library.",
            "Load Image ×2 → Batch Images → HyperLoRA Encode Face → HyperLoRA Predict Coefficients → HyperLoRA "
            "Save Identity (and → HyperLoRA Apply → KSampler)", save_identity),
    Example("hyperlora_from_saved_identity", "Generates from a saved identity: no photos, no face models.",
            "HyperLoRA Load Identity → HyperLoRA Apply → KSampler", from_saved_identity),
    Example("hyperlora_rank_by_likeness", "Four images of a saved identity, ranked by ArcFace likeness; the "
            "best one is saved.", "HyperLoRA Load Identity → HyperLoRA Apply → KSampler (batch of 4) → VAE "
            "Decode → HyperLoRA Likeness → Save Image (best) + Preview Image (scores)", rank_by_likeness),
)


# ---------------------------------------------------------------- output

from scripts.train_lora_workflows import TRAIN_LORA_EXAMPLES, TRAINER_LORA  # noqa: F401

EXAMPLES += tuple(Example(*entry) for entry in TRAIN_LORA_EXAMPLES)


def build_release(name: str) -> str:
    """The release whose core nodes a workflow is built with: the newest supported one, or for a
    `<name>_comfyui-0.3` variant the newest of that series."""
    variant = RELEASE_VARIANT.match(name)
    releases = [r for r in supported_releases() if not variant or r.startswith(variant.group("series") + ".")]
    if not releases:
        raise ValueError(f"{name}: no recorded /object_info of ComfyUI {variant.group('series')} in tests/data")
    return releases[-1]


def load_schemas(release: str | None = None) -> dict:
    """Core nodes from a release's recorded /object_info (default: the newest) plus this pack's nodes."""
    return {**release_schemas(release or supported_releases()[-1]), **load_pack_schemas()}


def build_all(schemas: dict | None = None) -> dict[str, str]:
    """File name -> JSON text of every example workflow (each with its release's schemas unless given)."""
    cache: dict[str, dict] = {}
    files = {}
    for example in EXAMPLES:
        release = build_release(example.name)
        wf = Workflow(example.name, schemas or cache.setdefault(release, load_schemas(release)))
        example.build(wf)
        files[f"{example.name}.json"] = json.dumps(wf.to_json(), indent=2, ensure_ascii=False) + "\n"
    return files


def readme_table() -> str:
    names = [e.name for e in EXAMPLES]
    lines = ["| file | ComfyUI | what it does | graph |", "|---|---|---|---|"]
    for e in EXAMPLES:
        releases = " and ".join(releases_of(e.name, names))
        lines.append(f"| [`{e.name}.json`](example_workflows/{e.name}.json) | {releases} | {e.summary} | {e.chain} |")
    return "\n".join(lines)


def updated_readme(text: str, table: str) -> str:
    return replace_section(text, START, END, table)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check that the committed files are current")
    args = parser.parse_args()
    files = build_all()
    readme = README.read_text(encoding="utf-8")
    new_readme = updated_readme(readme, readme_table())
    if args.check:
        stale = [name for name, text in files.items()
                 if not (OUT_DIR / name).is_file() or (OUT_DIR / name).read_text(encoding="utf-8") != text]
        stale += ["README.md"] if new_readme != readme else []
        for name in stale:
            print(f"{name} is stale: run python scripts/build_example_workflows.py", file=sys.stderr)
        return 1 if stale else 0
    OUT_DIR.mkdir(exist_ok=True)
    for name, text in files.items():
        (OUT_DIR / name).write_text(text, encoding="utf-8")
    if new_readme != readme:
        README.write_text(new_readme, encoding="utf-8")
    return 0


if __name__ == "__main__":
    from scripts import build_example_workflows as module  # one copy of the module, shared with the families

    sys.exit(module.main())
