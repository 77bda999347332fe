"""Convert a workflow made with the official ComfyUI-HyperLoRA pack into one that runs on core + this pack.

Users of the official pack have saved workflows full of its eleven node types (and of the two
third-party nodes its examples use for prompts and image batches). This rewrites them in place:
positions, links, groups and every setting that has a counterpart are kept, and a report says what
changed, what could not be carried over, and which other packs' nodes are still needed.

The mapping (also in docs/workflow-conversion.md):

- HyperLoRAConfig -> HyperLoRA CLIP Vision Loader (image_encoder) + HyperLoRA Face Analyzer Loader
  (face_analyzer); the architecture numbers are read from the checkpoint files.
- HyperLoRALoader -> HyperLoRA Checkpoint Loader (model, dtype).
- HyperLoRAUniLoader -> the three loaders above.
- HyperLoRAFaceAttr + HyperLoRAIDCond (+ HyperLoRABaseCond on the same photos) -> HyperLoRA Encode Face.
- HyperLoRAGenerateIDLoRA / GenerateBaseLoRA -> HyperLoRA Predict Coefficients.
- HyperLoRAUniGenerateIDLoRA -> Encode Face + Predict Coefficients.
- HyperLoRAApplyLoRA -> HyperLoRA Apply (weight -> ID or Base strength); HyperLoRASaveLoRA -> Export LoRA.
- BNK_CLIPTextEncodeAdvanced -> core CLIPTextEncode; ImpactMakeImageBatch -> core ImageBatch chain.

Pure Python (no ComfyUI): used by `python -m hyperlora_core convert-workflow` and the web route.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .graph import Builder, Graph, NodeSpec, Socket, WorkflowError
from .subgraphs import upgrade_subgraphs
from .upgrade import upgrade_nodes

__all__ = ["OFFICIAL_NODE_TYPES", "Conversion", "Report", "WorkflowError", "convert_workflow"]

# Widget order of the official nodes (their INPUT_TYPES, widgets only), as their workflows save them.
OFFICIAL_WIDGETS = {
    "HyperLoRAConfig": ("image_processor", "image_encoder", "resampler.dim", "resampler.dim_head",
                        "resampler.heads", "resampler.depth", "resampler.ff_mult", "encoder_types",
                        "face_analyzer", "id_embed_dim", "num_id_tokens", "hyper_dim", "lora_rank",
                        "has_base_lora"),
    "HyperLoRALoader": ("model", "dtype"),
    "HyperLoRAIDCond": ("grayscale", "remove_background"),
    "HyperLoRABaseCond": ("crop", "crop_scale_LRTB", "safe_crop"),
    "HyperLoRAGenerateIDLoRA": (),
    "HyperLoRAGenerateBaseLoRA": (),
    "HyperLoRAApplyLoRA": ("weight",),
    "HyperLoRASaveLoRA": ("filename_prefix",),
    "HyperLoRAFaceAttr": (),
    "HyperLoRAUniLoader": ("image_processor", "image_encoder", "encoder_types", "face_analyzer", "model", "dtype"),
    "HyperLoRAUniGenerateIDLoRA": ("grayscale", "remove_background"),
}
OFFICIAL_NODE_TYPES = tuple(OFFICIAL_WIDGETS)
OFFICIAL_TITLES = {"HyperLoRA " + name for name in ("Config", "Loader", "ID Cond", "Base Cond", "Generate ID LoRA",
                                                    "Generate Base LoRA", "Apply LoRA", "Save LoRA", "Face Attr",
                                                    "Uni Loader", "Uni Generate ID LoRA")}
OFFICIAL_SOCKET_TYPES = {"HYPER_LORA_CONFIG", "HYPER_LORA", "ID_COND", "BASE_COND", "FACE_ATTR", "LORA"}
REPLACED_THIRD_PARTY = {"BNK_CLIPTextEncodeAdvanced": ("text", "token_normalization", "weight_interpretation"),
                        "ImpactMakeImageBatch": ()}
RELEASED_ARCHITECTURE = {"resampler.dim": 1024, "resampler.dim_head": 64, "resampler.heads": 12,
                         "resampler.depth": 4, "resampler.ff_mult": 4, "id_embed_dim": 512}
DTYPES = ("fp16", "bf16", "fp32")

_LOADER_STATUS_H = 70  # our loaders show the setup status under their widgets
SPECS = {
    "HyperLoRACheckpointLoader": NodeSpec((), (("hyperlora", "HYPERLORA"),),
                                          (("checkpoint", ""), ("dtype", "auto"), ("device", "auto")),
                                          (315, 116 + _LOADER_STATUS_H)),
    "HyperLoRAFaceAnalyzerLoader": NodeSpec((), (("face_analyzer", "HYPERLORA_FACE_ANALYZER"),),
                                            (("face_model", ""), ("provider", "auto")), (315, 90 + _LOADER_STATUS_H)),
    "HyperLoRACLIPVisionLoader": NodeSpec((), (("clip_vision", "CLIP_VISION"),), (("clip_model", ""),),
                                          (315, 64 + _LOADER_STATUS_H)),
    "HyperLoRAEncodeFace": NodeSpec(
        (("images", "IMAGE"), ("clip_vision", "CLIP_VISION"), ("face_analyzer", "HYPERLORA_FACE_ANALYZER")),
        (("face", "HYPERLORA_FACE"), ("face_crops", "IMAGE"), ("detections", "IMAGE")),
        (("remove_background", True), ("grayscale", False), ("face_selection", "largest"), ("face_index", 0),
         ("skip_images_without_face", False), ("base_condition", True), ("base_crop_left", 1.0),
         ("base_crop_right", 1.0), ("base_crop_top", 1.0), ("base_crop_bottom", 1.0)), (315, 342)),
    "HyperLoRAPredictCoefficients": NodeSpec((("hyperlora", "HYPERLORA"), ("face", "HYPERLORA_FACE")),
                                             (("coefficients", "HYPERLORA_COEFFS"),), (("image_weights", ""),),
                                             (315, 86)),
    "HyperLoRAApply": NodeSpec((("model", "MODEL"), ("coefficients", "HYPERLORA_COEFFS")), (("model", "MODEL"),),
                               (("id_strength", 0.8), ("base_strength", 0.0)), (315, 112)),
    "HyperLoRAExportLoRA": NodeSpec((("coefficients", "HYPERLORA_COEFFS"),), (("path", "STRING"),),
                                    (("filename_prefix", "loras/hyperlora"), ("key_style", "comfy"),
                                     ("base_strength", 0.0), ("recommended_strength", 0.8), ("precision", "fp16"),
                                     ("destination", "output")),
                                    (315, 168)),
    "CLIPTextEncode": NodeSpec((("clip", "CLIP"),), (("CONDITIONING", "CONDITIONING"),), (("text", ""),),
                               (220, 100)),  # a replaced prompt node keeps its own size
    "ImageBatch": NodeSpec((("image1", "IMAGE"), ("image2", "IMAGE")), (("IMAGE", "IMAGE"),), (), (210, 46)),
}

# Other packs' nodes the official examples use, left in place: (pack, core + HyperLoRA alternative).
FACE_DETAILER_ALTERNATIVE = (
    "HyperLoRA Face Mask (HyperLoRAFaceMask) + core inpainting: VAE Encode (for Inpainting) or "
    "InpaintModelConditioning with the mask, then KSampler with the HyperLoRA model")
INSTANTID_ALTERNATIVE = (
    "for the pose, core Apply ControlNet with an SDXL OpenPose ControlNet and a pose image "
    "(example_workflows/hyperlora_controlnet.json); the likeness then comes from HyperLoRA alone")
KNOWN_THIRD_PARTY = {
    "FaceDetailer": ("ComfyUI-Impact-Pack", FACE_DETAILER_ALTERNATIVE),
    "FaceDetailerPipe": ("ComfyUI-Impact-Pack", FACE_DETAILER_ALTERNATIVE),
    "DetailerForEach": ("ComfyUI-Impact-Pack", FACE_DETAILER_ALTERNATIVE),
    "UltralyticsDetectorProvider": ("ComfyUI-Impact-Subpack", ("only feeds FaceDetailer: HyperLoRA Face Mask "
                                                               "finds faces with the AntelopeV2 models you "
                                                               "already have")),
    "SAMLoader": ("ComfyUI-Impact-Pack", "only feeds FaceDetailer (see there)"),
    "InstantIDModelLoader": ("ComfyUI_InstantID", INSTANTID_ALTERNATIVE),
    "InstantIDFaceAnalysis": ("ComfyUI_InstantID", INSTANTID_ALTERNATIVE),
    "ApplyInstantID": ("ComfyUI_InstantID", INSTANTID_ALTERNATIVE),
    "ApplyInstantIDAdvanced": ("ComfyUI_InstantID", INSTANTID_ALTERNATIVE),
    "ApplyInstantIDControlNet": ("ComfyUI_InstantID", INSTANTID_ALTERNATIVE),
    "FaceKeypointsPreprocessor": ("ComfyUI_InstantID", INSTANTID_ALTERNATIVE),
}
FRONTEND_ONLY = {"Reroute", "PrimitiveNode", "Note", "MarkdownNote"}


@dataclass(frozen=True)
class Bundle:
    """What an official HYPER_LORA (or HYPER_LORA_CONFIG) carried: here three separate loaders."""

    hyperlora: Socket | None
    clip_vision: Socket | None
    face_analyzer: Socket | None
    dtype: str | None = None


@dataclass(frozen=True)
class Lora:
    """An official LORA: the coefficients it came from, and whether it was the ID or the Base LoRA."""

    coefficients: Socket
    kind: str  # "id" | "base"
    bundle: Bundle | None


@dataclass
class Report:
    replaced: list = field(default_factory=list)  # (old id, old type, [(new id, new type), ...], why)
    notes: list = field(default_factory=list)  # (node id or None, text)
    third_party: list = field(default_factory=list)  # (node id, type, pack, alternative)
    upgraded: list = field(default_factory=list)  # (node id, text): our own nodes saved by an earlier version

    def to_json(self) -> dict:
        return {"replaced": [{"node": i, "type": t, "now": [{"node": n, "type": k} for n, k in new], "why": why}
                             for i, t, new, why in self.replaced],
                "notes": [{"node": i, "text": t} for i, t in self.notes],
                "third_party": [{"node": i, "type": t, "pack": p, "alternative": a}
                                for i, t, p, a in self.third_party],
                "upgraded": [{"node": i, "text": t} for i, t in self.upgraded],
                "text": self.text()}

    def text(self) -> str:
        lines = [f"Replaced {len(self.replaced)} node(s):" if self.replaced else
                 "Replaced nothing: this workflow has no nodes of the official HyperLoRA pack."]
        if self.upgraded:
            heading = (f"Upgraded {len(self.upgraded)} HyperLoRA Apply to Conditioning node(s) saved by an earlier "
                       "version of this pack:")
            lines[:0] = [heading] + [f"  node {node}: {text}" for node, text in self.upgraded]
        for old_id, old_type, new, why in self.replaced:
            now = " + ".join(f"{kind} (node {node})" for node, kind in new) or "removed"
            lines.append(f"  node {old_id} {old_type} -> {now}" + (f" ({why})" if why else ""))
        if self.notes:
            lines.append("Settings and behaviour:")
            lines += [f"  {'' if node is None else f'node {node}: '}{text}" for node, text in self.notes]
        if self.third_party:
            lines.append("Left in place (nodes of other packs; install them, or use the alternative):")
            for node, kind, pack, alternative in self.third_party:
                lines.append(f"  node {node} {kind} ({pack})" + (f" - alternative: {alternative}" if alternative else ""))
        else:
            lines.append("The result needs only core ComfyUI and this pack.")
        return "\n".join(lines)


@dataclass
class Conversion:
    workflow: dict
    report: Report


def convert_workflow(workflow: dict, installed: set[str] | None = None) -> Conversion:
    """The converted workflow and its report. `installed`: node types the server has (None: unknown), so
    the report can also name other packs' nodes that are missing."""
    try:
        return _Converter(workflow, installed).run()
    except RecursionError:
        raise WorkflowError("This workflow chains too many HyperLoRA nodes one after another to convert "
                            "(thousands); it is probably damaged.") from None


class _Converter:
    def __init__(self, workflow: dict, installed: set[str] | None):
        self.g = Graph(workflow)
        self.b = Builder(self.g)
        self.installed = installed
        self.report = Report()
        self.outputs: dict[int, list] = {}  # converted node id -> value per output slot
        self.subgraph_ids = {g.get("id") for g in self.subgraphs() if isinstance(g.get("id"), str)}
        self.busy: set[int] = set()
        self.noted: set = set()

    def subgraphs(self) -> list[dict]:
        """The workflow's subgraph definitions (the frontend's `definitions.subgraphs`); damaged ones skipped."""
        definitions = self.g.original.get("definitions")
        subgraphs = definitions.get("subgraphs") if isinstance(definitions, dict) else None
        return [g for g in subgraphs if isinstance(g, dict)] if isinstance(subgraphs, list) else []

    def run(self) -> Conversion:
        for node_id, node in self.g.nodes.items():
            if node["type"] in OFFICIAL_WIDGETS or node["type"] in REPLACED_THIRD_PARTY:
                self.convert(node)
        for node_id, node in self.g.nodes.items():
            if node_id in self.outputs or self._official_reroute(node):
                continue
            sources = [self.plain(self._link_source(entry), node_id, entry.get("name")) for entry in
                       node.get("inputs") or []]
            self.b.keep(node, sources)
            self._note_third_party(node)
        self.report.upgraded = upgrade_nodes(self.b)
        for subgraph in self.subgraphs():
            if not isinstance(subgraph.get("nodes"), list):
                continue
            if any(isinstance(n, dict) and isinstance(n.get("type"), str) and n["type"] in OFFICIAL_WIDGETS
                   for n in subgraph["nodes"]):
                name = str(subgraph.get("name", subgraph.get("id")))[:80]
                self.note(None, f"the subgraph '{name}' holds official HyperLoRA nodes; convert them by hand "
                                "(subgraphs are not converted).")
        self.b.make_room({node_id for node_id in self.b.nodes if node_id in self.outputs or
                          node_id not in self.g.nodes})
        workflow = self.b.to_workflow()
        self.report.upgraded += upgrade_subgraphs(workflow)  # old nodes inside subgraphs, in place
        return Conversion(workflow, self.report)

    # ------------------------------------------------------------ sources and values

    def _link_source(self, entry: dict) -> Socket | None:
        link = self.g.links.get(entry.get("link"))
        if link is None or link["origin_id"] not in self.g.nodes:
            return None
        return Socket(link["origin_id"], link["origin_slot"])

    def _official_reroute(self, node: dict) -> bool:
        types = {o.get("type") for o in node.get("outputs") or []} | {i.get("type") for i in node.get("inputs") or []}
        return node["type"] == "Reroute" and bool(types & OFFICIAL_SOCKET_TYPES)

    def value(self, socket: Socket | None):
        """What an old output socket is now: a Socket, a Bundle, a Lora, or None."""
        if socket is None:
            return None
        node = self.g.nodes[socket.node]
        if self._official_reroute(node):
            return self.value(self._link_source((node.get("inputs") or [{}])[0]))
        if node["type"] in OFFICIAL_WIDGETS or node["type"] in REPLACED_THIRD_PARTY:
            values = self.convert(node)
            return values[socket.slot] if socket.slot < len(values) else None
        return socket

    def source(self, node: dict, name: str):
        return self.value(self.g.source(node, name))

    def plain(self, socket: Socket | None, node_id: int, name: str | None) -> Socket | None:
        value = self.value(socket)
        if isinstance(value, (Bundle, Lora)):
            self.note(node_id, f"input '{name}' was fed an official HyperLoRA socket that has no counterpart "
                               "here; it is left unconnected.")
            return None
        return value

    def bundle(self, node: dict) -> Bundle:
        value = self.source(node, "hyper_lora")
        if isinstance(value, Bundle):
            return value
        self.note(node["id"], "no HyperLoRA loader is connected: connect the checkpoint, CLIP vision and face "
                              "analyzer loaders by hand.")
        return Bundle(None, None, None)

    def widget(self, node: dict, name: str, default):
        names = OFFICIAL_WIDGETS.get(node["type"]) or REPLACED_THIRD_PARTY.get(node["type"]) or ()
        return self.g.widget(node, names, name, default)

    def number(self, node: dict, name: str, default: float, low: float, high: float) -> float:
        """A numeric widget value, checked: a value that is not a finite number is replaced by the default
        (JSON written with NaN would not load in the browser), one outside [low, high] is limited."""
        value = self.widget(node, name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.note(node["id"], f"{name} {value!r} is not a number; using {default}.")
            return default
        if not low <= value <= high:
            self.note(node["id"], f"{name} {value} limited to {low}..{high}.")
            return min(max(value, low), high)
        return value

    def text(self, node: dict, name: str, default: str) -> str:
        value = self.widget(node, name, default)
        if not isinstance(value, str):
            self.note(node["id"], f"{name} {str(value)[:40]!r} is not text; using '{default}'.")
            return default
        return value

    def linked_widget(self, node: dict, name: str, new_name: str, kind: str) -> list:
        """A widget the old node had turned into an input and linked (e.g. from a Primitive)."""
        for entry in node.get("inputs") or []:
            if entry.get("name") == name and entry.get("link") is not None:
                return [(new_name, kind, self.plain(self._link_source(entry), node["id"], name))]
        return []

    def note(self, node_id, text: str) -> None:
        if (node_id, text) not in self.noted:  # a set: thousands of nodes must not make this quadratic
            self.noted.add((node_id, text))
            self.report.notes.append((node_id, text))

    def _note_third_party(self, node: dict) -> None:
        kind = node["type"]
        if kind in KNOWN_THIRD_PARTY:
            pack, alternative = KNOWN_THIRD_PARTY[kind]
            self.report.third_party.append((node["id"], kind, pack, alternative))
        elif self.installed is not None and kind not in self.installed and kind not in FRONTEND_ONLY \
                and kind not in SPECS and kind not in self.subgraph_ids:
            self.report.third_party.append((node["id"], kind, "not installed on this server", ""))

    # ------------------------------------------------------------ conversion of one node

    def convert(self, node: dict) -> list:
        node_id = node["id"]
        if node_id in self.outputs:
            return self.outputs[node_id]
        if node_id in self.busy:
            raise WorkflowError(f"Node {node_id} ({node['type']}) is part of a loop of links; the workflow "
                                "cannot run as saved. Remove the loop in ComfyUI, save, and convert again.")
        self.busy.add(node_id)
        values = getattr(self, "_" + node["type"])(node)
        self.busy.discard(node_id)
        self.outputs[node_id] = values
        return values

    def add(self, node_id, kind, like, **kwargs) -> dict:
        new = self.b.add(node_id, kind, SPECS[kind], like, **kwargs)
        title = like.get("title")
        if node_id == like["id"] and isinstance(title, str) and title and title not in OFFICIAL_TITLES \
                and title != like["type"]:
            new["title"] = title
        return new

    def replaced(self, node: dict, *new: dict, why: str = "") -> None:
        self.report.replaced.append((node["id"], node["type"], [(n["id"], n["type"]) for n in new], why))

    def _loaders(self, node: dict, image_encoder, face_analyzer, first_offset: float):
        """CLIP vision + face analyzer loaders for an official config; stacked under `first_offset`."""
        clip_id = node["id"] if first_offset == 0 else self.b.new_id()
        clip = self.add(clip_id, "HyperLoRACLIPVisionLoader", node, offset=(0, first_offset),
                        widgets={"clip_model": image_encoder or ""})
        face = self.add(self.b.new_id(), "HyperLoRAFaceAnalyzerLoader", node,
                        offset=(0, first_offset + clip["size"][1] + 50),
                        widgets={"face_model": face_analyzer or "", "provider": "auto"})
        encoder_types = self.widget(node, "encoder_types", "clip + arcface")
        if encoder_types != "clip + arcface":
            self.note(node["id"], f"encoder_types '{encoder_types}': the released checkpoints use 'clip + arcface', "
                                  "which is what this pack runs (the other settings did not work in the official "
                                  "pack either).")
        processor = self.widget(node, "image_processor", "")
        self.note(node["id"], f"image_processor '{processor}' is not needed: the official CLIP preprocessing is "
                              "built in.")
        return clip, face

    def _HyperLoRAConfig(self, node):
        clip, face = self._loaders(node, self.text(node, "image_encoder", ""),
                                   self.text(node, "face_analyzer", ""), 0)
        changed = {k: self.widget(node, k, v) for k, v in RELEASED_ARCHITECTURE.items()
                   if self.widget(node, k, v) != v}
        self.note(node["id"], "the architecture numbers (resampler.*, id_embed_dim, num_id_tokens, hyper_dim, "
                              "lora_rank, has_base_lora) are read from the checkpoint files" +
                  (f"; this node's {changed} differ from the released checkpoints and are not used." if changed
                   else "."))
        self.replaced(node, clip, face)
        return [Bundle(None, Socket(clip["id"], 0), Socket(face["id"], 0))]

    def _checkpoint_loader(self, node, offset=(0, 0), node_id=None) -> tuple[dict, str]:
        dtype = self.widget(node, "dtype", "fp16")
        if dtype not in DTYPES:
            self.note(node["id"], f"dtype '{dtype}' is unknown; using auto (the file's own precision).")
            dtype = "auto"
        loader = self.add(node["id"] if node_id is None else node_id, "HyperLoRACheckpointLoader", node,
                          offset=offset, widgets={"checkpoint": self.text(node, "model", ""), "dtype": dtype,
                                                  "device": "auto"})
        return loader, dtype

    def _HyperLoRALoader(self, node):
        config = self.source(node, "config")
        loader, dtype = self._checkpoint_loader(node)
        self.replaced(node, loader)
        if not isinstance(config, Bundle):
            self.note(node["id"], "no HyperLoRA Config is connected: add HyperLoRA CLIP Vision Loader and "
                                  "HyperLoRA Face Analyzer Loader and connect them to Encode Face.")
            config = Bundle(None, None, None)
        return [Bundle(Socket(loader["id"], 0), config.clip_vision, config.face_analyzer, dtype)]

    def _HyperLoRAUniLoader(self, node):
        loader, dtype = self._checkpoint_loader(node)
        clip, face = self._loaders(node, self.text(node, "image_encoder", ""),
                                   self.text(node, "face_analyzer", ""), loader["size"][1] + 50)
        self.replaced(node, loader, clip, face)
        return [Bundle(Socket(loader["id"], 0), Socket(clip["id"], 0), Socket(face["id"], 0), dtype)]

    def _HyperLoRAFaceAttr(self, node):
        self.replaced(node, why="face detection is part of HyperLoRA Encode Face")
        return [None]

    def _encode_face(self, node, node_id, bundle: Bundle, images, offset=(0, 0), base=False) -> dict:
        encode = self.add(node_id, "HyperLoRAEncodeFace", node, offset=offset,
                          sources=[images, bundle.clip_vision, bundle.face_analyzer],
                          widgets={"remove_background": bool(self.widget(node, "remove_background", True)),
                                   "grayscale": bool(self.widget(node, "grayscale", False)),
                                   "face_selection": "score", "skip_images_without_face": True,
                                   "base_condition": base})
        self.note(None, "Encode Face uses the most confident face of each photo and skips photos without a face, "
                        "as the official nodes did (face_selection 'score', skip_images_without_face on).")
        return encode

    def _HyperLoRAIDCond(self, node):
        images = self.plain(self.g.source(node, "images"), node["id"], "images")
        encode = self._encode_face(node, node["id"], self.bundle(node), images)
        self.replaced(node, encode)
        return [Socket(encode["id"], 0), Socket(encode["id"], 1)]

    def _HyperLoRABaseCond(self, node):
        key = (self.g.source(node, "images"), self.g.source(node, "hyper_lora"))
        partner = next((n for n in self.g.nodes.values() if n["type"] == "HyperLoRAIDCond"
                        and (self.g.source(n, "images"), self.g.source(n, "hyper_lora")) == key), None)
        if partner is not None:
            encode = self.b.nodes[self.convert(partner)[0].node]
            self.replaced(node, why=f"merged into HyperLoRA Encode Face (node {encode['id']}), base condition on")
        else:
            images = self.plain(self.g.source(node, "images"), node["id"], "images")
            encode = self._encode_face(node, node["id"], self.bundle(node), images)
            self.replaced(node, encode)
        self._set_widget(encode, "base_condition", True)
        for side, factor in zip(("left", "right", "top", "bottom"), self._crop_factors(node)):
            self._set_widget(encode, f"base_crop_{side}", factor)
        if any(node["id"] == self.g.links[e["link"]]["origin_id"] and self.g.links[e["link"]]["origin_slot"] == 1
               for n in self.g.nodes.values() for e in n.get("inputs") or [] if e.get("link") in self.g.links):
            self.note(node["id"], "its IMAGE output (the blurred base crop) now shows Encode Face's face_crops.")
        return [Socket(encode["id"], 0), Socket(encode["id"], 1)]

    def _crop_factors(self, node) -> tuple:
        if not self.widget(node, "crop", True):
            self.note(node["id"], "crop off: the base condition now reaches 4 face sizes around the face (the "
                                  "most Encode Face allows), clamped to the photo.")
            return (4.0,) * 4
        text = str(self.widget(node, "crop_scale_LRTB", "1,1,1,1"))
        try:
            factors = [float(part) for part in text.split(",")]
            if len(factors) != 4 or not all(math.isfinite(f) for f in factors):
                raise ValueError
        except ValueError:
            self.note(node["id"], f"crop_scale_LRTB '{text}' is not four numbers; using 1,1,1,1.")
            return (1.0,) * 4
        clamped = tuple(min(max(f, 0.1), 4.0) for f in factors)
        if list(clamped) != factors:
            self.note(node["id"], f"crop_scale_LRTB {text} limited to 0.1..4: {clamped}.")
        if not self.widget(node, "safe_crop", True):
            self.note(node["id"], "safe_crop off: Encode Face always keeps the crop inside the photo.")
        return clamped

    def _set_widget(self, node: dict, name: str, value) -> None:
        names = [n for n, _ in SPECS[node["type"]].widgets]
        node["widgets_values"][names.index(name)] = value

    def _predict(self, node, node_id, bundle: Bundle, face, offset=(0, 0)) -> dict:
        return self.add(node_id, "HyperLoRAPredictCoefficients", node, offset=offset,
                        sources=[bundle.hyperlora, face], widgets={"image_weights": ""})

    def _generate(self, node, cond_input: str, kind: str):
        bundle = self.bundle(node)
        face = self.plain(self.g.source(node, cond_input), node["id"], cond_input)
        predict = self._predict(node, node["id"], bundle, face)
        self.replaced(node, predict)
        return [Lora(Socket(predict["id"], 0), kind, bundle)]

    def _HyperLoRAGenerateIDLoRA(self, node):
        return self._generate(node, "id_cond", "id")

    def _HyperLoRAGenerateBaseLoRA(self, node):
        return self._generate(node, "base_cond", "base")

    def _HyperLoRAUniGenerateIDLoRA(self, node):
        bundle = self.bundle(node)
        images = self.plain(self.g.source(node, "images"), node["id"], "images")
        encode = self._encode_face(node, node["id"], bundle, images)
        predict = self._predict(node, self.b.new_id(), bundle, Socket(encode["id"], 0),
                                offset=(0, encode["size"][1] + 50))
        self.replaced(node, encode, predict)
        return [Lora(Socket(predict["id"], 0), "id", bundle)]

    def _lora(self, node) -> Lora | None:
        lora = self.source(node, "lora")
        if not isinstance(lora, Lora):
            self.note(node["id"], "its lora input is not connected to a HyperLoRA generator; connect "
                                  "coefficients by hand.")
            return None
        return lora

    def _HyperLoRAApplyLoRA(self, node):
        lora = self._lora(node)
        weight = self.number(node, "weight", 0.8, -4.0, 4.0)
        strength = "base_strength" if lora is not None and lora.kind == "base" else "id_strength"
        widgets = {"id_strength": 0.0, "base_strength": 0.0, strength: weight}
        model = self.plain(self.g.source(node, "model"), node["id"], "model")
        apply = self.add(node["id"], "HyperLoRAApply", node, widgets=widgets,
                         sources=[model, lora.coefficients if lora else None],
                         linked_widgets=self.linked_widget(node, "weight", strength, "FLOAT"))
        if strength == "base_strength":
            self.note(node["id"], f"a Base-LoRA at weight {weight}: Apply with ID strength 0 and Base strength "
                                  f"{weight}.")
        self.replaced(node, apply)
        return [Socket(apply["id"], 0)]

    def _HyperLoRASaveLoRA(self, node):
        lora = self._lora(node)
        bundle = lora.bundle if lora else None
        precision = bundle.dtype if bundle is not None and bundle.dtype in DTYPES else "fp16"
        base = lora is not None and lora.kind == "base"
        export = self.add(node["id"], "HyperLoRAExportLoRA", node,
                          widgets={"filename_prefix": self.text(node, "filename_prefix", "lora/id_lora"),
                                   "base_strength": 1.0 if base else 0.0, "precision": precision},
                          sources=[lora.coefficients if lora else None],
                          linked_widgets=self.linked_widget(node, "filename_prefix", "filename_prefix", "STRING"))
        if base:
            self.note(node["id"], "Export LoRA always writes the ID-LoRA; the Base-LoRA is added at strength 1.")
        self.replaced(node, export)
        return []

    def _BNK_CLIPTextEncodeAdvanced(self, node):
        clip = self.plain(self.g.source(node, "clip"), node["id"], "clip")
        encode = self.add(node["id"], "CLIPTextEncode", node, sources=[clip],
                          widgets={"text": self.text(node, "text", "")},
                          linked_widgets=self.linked_widget(node, "text", "text", "STRING"))
        normalization = self.widget(node, "token_normalization", "none")
        interpretation = self.widget(node, "weight_interpretation", "comfy")
        if (normalization, interpretation) != ("none", "comfy"):
            self.note(node["id"], f"prompt weighting changes from {interpretation} with token_normalization "
                                  f"'{normalization}' to ComfyUI's own: (word:1.2) emphasis acts somewhat "
                                  "differently; the text is unchanged.")
        self.replaced(node, encode)
        return [Socket(encode["id"], 0)]

    def _ImpactMakeImageBatch(self, node):
        def number(entry):
            digits = "".join(c for c in str(entry.get("name", "")) if c.isdigit())
            return int(digits) if digits else 0

        entries = sorted((e for e in node.get("inputs") or [] if str(e.get("name", "")).startswith("image")),
                         key=number)
        images = [s for s in (self.plain(self._link_source(e), node["id"], e.get("name")) for e in entries) if s]
        if not images:
            self.replaced(node, why="no image was connected; its consumers are left unconnected")
            return [None]
        if len(images) == 1:
            self.replaced(node, why="a batch of one image: the image is connected directly")
            return [images[0]]
        batches, current = [], images[0]
        for index, image in enumerate(images[1:]):
            node_id = node["id"] if index == 0 else self.b.new_id()
            batch = self.add(node_id, "ImageBatch", node, offset=(0, 80 * index), sources=[current, image])
            batches.append(batch)
            current = Socket(batch["id"], 0)
        self.replaced(node, *batches)
        return [current]
