"""Official-format workflows, built here from the official nodes' saved forms (tests/data/official_nodes.json).

The official pack's example workflows are not in this repository, so the conversion tests build the same
five graphs (T2I, ControlNet, FaceDetailer, InstantID, ConceptSlider: node ids, links, settings) from the
recorded node forms. When HYPERLORA_OFFICIAL_WORKFLOWS names a folder with the real files, the tests use
them in addition and check that the built graphs match them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "official_nodes.json"
FORMS = json.loads(DATA.read_text(encoding="utf-8"))
ENV = "HYPERLORA_OFFICIAL_WORKFLOWS"


class Official:
    """Builds UI-format workflows with the official nodes, links recorded on both ends."""

    def __init__(self):
        self.data = {"last_node_id": 0, "last_link_id": 0, "nodes": [], "links": [], "groups": [], "config": {},
                     "extra": {"ds": {"scale": 0.5, "offset": [0, 0]}}, "version": 0.4}

    def node(self, node_id, kind, inputs=(), outputs=(), widgets=(), **extra):
        """A node with the sockets given: (name, type[, "widget"]) and (name, type)."""
        extra.setdefault("pos", [node_id * 10, node_id * 20])
        extra.setdefault("size", [200, 100])
        self.data["nodes"].append({"id": node_id, "type": kind, "flags": {}, "order": 0, "mode": 0,
                                   "inputs": [{"name": n, "type": t, "link": None, **({"widget": {"name": n}}
                                                                                    if w else {})}
                                              for n, t, *w in inputs],
                                   "outputs": [{"name": n, "type": t, "links": []} for n, t in outputs],
                                   "properties": {"Node name for S&R": kind}, "widgets_values": list(widgets),
                                   **extra})
        self.data["last_node_id"] = max(self.data["last_node_id"], node_id)
        return self

    def add(self, node_id, kind, pos, widgets=None, **extra):
        """A node of a recorded type, its sockets and size as the official workflows save them."""
        form = FORMS[kind]
        return self.node(node_id, kind, form["inputs"], form["outputs"],
                         form["widgets_values"] if widgets is None else widgets, pos=list(pos),
                         size=list(form["size"]), **extra)

    def link(self, origin, origin_slot, target, target_name):
        link_id = len(self.data["links"]) + 1
        target_node = self.get(target)
        slot = [e["name"] for e in target_node["inputs"]].index(target_name)
        kind = self.get(origin)["outputs"][origin_slot]["type"]
        self.data["links"].append([link_id, origin, origin_slot, target, slot, kind])
        self.get(origin)["outputs"][origin_slot]["links"].append(link_id)
        target_node["inputs"][slot]["link"] = link_id
        self.data["last_link_id"] = link_id
        return self

    def get(self, node_id):
        return next(n for n in self.data["nodes"] if n["id"] == node_id)


NEGATIVE = "lowres, bad anatomy, bad hands, text, error, worst quality, low quality, blurry"


def _text_to_image(wf: Official, prompt: str, seed: int) -> None:
    """What every official example has: checkpoint, CLIP skip -2, A1111-weighted prompts, sampler, decode."""
    wf.add(1, "CheckpointLoaderSimple", (450, 680))
    wf.add(11, "KSampler", (1720, 700), [seed, "fixed", 20, 5, "dpmpp_2m", "karras", 1])
    wf.add(12, "BNK_CLIPTextEncodeAdvanced", (900, 810), ["fcsks fxhks fhyks, " + prompt, "length+mean", "A1111"])
    wf.add(13, "BNK_CLIPTextEncodeAdvanced", (900, 1075), [NEGATIVE, "length+mean", "A1111"])
    wf.add(14, "EmptyLatentImage", (1390, 1140))
    wf.add(15, "CLIPSetLastLayer", (545, 985))
    wf.add(16, "VAEDecode", (2075, 815))
    wf.link(14, 0, 11, "latent_image").link(15, 0, 12, "clip").link(15, 0, 13, "clip").link(1, 1, 15, "clip")
    wf.link(11, 0, 16, "samples").link(1, 2, 16, "vae")


def _id_lora(wf: Official, photo: str, strength: float) -> None:
    """Config + Loader, a batch of one photo, Face Attr, ID Cond, Generate ID LoRA, Apply LoRA on the checkpoint."""
    wf.add(2, "HyperLoRAConfig", (595, -130))
    wf.add(3, "HyperLoRALoader", (600, 300))
    wf.add(4, "HyperLoRAFaceAttr", (780, 520))
    wf.add(5, "ImpactMakeImageBatch", (500, 470))
    wf.add(6, "LoadImage", (100, 355), [photo, "image"])
    wf.add(7, "HyperLoRAIDCond", (1010, 480))
    wf.add(8, "HyperLoRAGenerateIDLoRA", (1290, 460))
    wf.add(9, "HyperLoRAApplyLoRA", (1300, 680), [strength])
    wf.link(2, 0, 3, "config").link(3, 0, 4, "hyper_lora").link(5, 0, 4, "images").link(6, 0, 5, "image1")
    wf.link(4, 0, 7, "face_attr").link(5, 0, 7, "images").link(3, 0, 7, "hyper_lora").link(7, 0, 8, "id_cond")
    wf.link(3, 0, 8, "hyper_lora").link(8, 0, 9, "lora").link(1, 0, 9, "model")


def t2i() -> dict:
    wf = Official()
    _text_to_image(wf, "a girl, snow scene, film lighting", 693709576827048)
    _id_lora(wf, "id-01.png", 0.9)
    wf.add(17, "PreviewImage", (2315, 415))
    wf.link(9, 0, 11, "model").link(12, 0, 11, "positive").link(13, 0, 11, "negative").link(16, 0, 17, "images")
    return wf.data


def controlnet() -> dict:
    wf = Official()
    _text_to_image(wf, "a man, white shirt, city street", 20801309000725)
    wf.get(14)["pos"] = [1765, 1035]
    _id_lora(wf, "id-03.png", 0.85)
    wf.add(17, "PreviewImage", (2315, 415))
    wf.add(18, "ControlNetLoader", (1365, 1050))
    wf.add(19, "ControlNetApplyAdvanced", (1370, 810))
    wf.add(20, "LoadImage", (1365, 1165), ["pose.jpg", "image"])
    wf.link(9, 0, 11, "model").link(16, 0, 17, "images").link(18, 0, 19, "control_net")
    wf.link(12, 0, 19, "positive").link(13, 0, 19, "negative").link(19, 0, 11, "positive")
    wf.link(19, 1, 11, "negative").link(20, 0, 19, "image")
    return wf.data


def _face_detailer(wf: Official, model: int) -> None:
    wf.add(17, "PreviewImage", (2820, 470))
    wf.add(18, "FaceDetailer", (2325, 270))
    wf.add(19, "UltralyticsDetectorProvider", (2350, 140))
    wf.link(16, 0, 18, "image").link(18, 0, 17, "images").link(19, 0, 18, "bbox_detector").link(model, 0, 18, "model")
    wf.link(15, 0, 18, "clip").link(1, 2, 18, "vae").link(12, 0, 18, "positive").link(13, 0, 18, "negative")


def face_detailer() -> dict:
    wf = Official()
    _text_to_image(wf, "a young woman, portrait, soft light", 56761277541164)
    _id_lora(wf, "id-02.png", 0.85)
    wf.link(9, 0, 11, "model").link(12, 0, 11, "positive").link(13, 0, 11, "negative")
    _face_detailer(wf, 9)
    return wf.data


def instantid() -> dict:
    wf = Official()
    _text_to_image(wf, "a black young man, studio portrait", 25168479591540)
    _id_lora(wf, "id-04.png", 0.85)
    wf.add(17, "PreviewImage", (2315, 415))
    wf.add(18, "ApplyInstantIDAdvanced", (935, 1340))
    wf.add(19, "InstantIDModelLoader", (485, 1305))
    wf.add(20, "InstantIDFaceAnalysis", (455, 1430))
    wf.add(21, "ControlNetLoader", (240, 1550), ["instantid/diffusion_pytorch_model.safetensors"])
    wf.add(23, "LoadImage", (105, 1135), ["ref-kps.png", "image"])
    wf.link(9, 0, 11, "model").link(16, 0, 17, "images").link(19, 0, 18, "instantid")
    wf.link(20, 0, 18, "insightface").link(21, 0, 18, "control_net").link(5, 0, 18, "image").link(1, 0, 18, "model")
    wf.link(18, 1, 11, "positive").link(18, 2, 11, "negative").link(12, 0, 18, "positive")
    wf.link(13, 0, 18, "negative").link(23, 0, 18, "image_kps")
    return wf.data


def concept_slider() -> dict:
    """The Uni nodes: one identity, then a slider from slider0.png (-0.7) to slider1.png (+0.7), FaceDetailer."""
    wf = Official()
    _text_to_image(wf, "a young woman, smiling, park", 56761277541164)
    wf.add(5, "ImpactMakeImageBatch", (485, 485))
    wf.add(6, "LoadImage", (105, 355), ["id-02.png", "image"])
    wf.add(9, "HyperLoRAApplyLoRA", (760, 525), [0.85])
    wf.add(20, "HyperLoRAUniLoader", (380, -10))
    for node_id, x in ((21, 725), (22, 1050), (23, 1335)):
        wf.add(node_id, "HyperLoRAUniGenerateIDLoRA", (x, 365))
    wf.add(24, "HyperLoRAApplyLoRA", (1050, 525), [-0.7000000000000001])
    wf.add(25, "HyperLoRAApplyLoRA", (1335, 525), [0.7000000000000001])
    wf.add(26, "LoadImage", (995, -10), ["slider0.png", "image"])
    wf.add(27, "LoadImage", (1325, -10), ["slider1.png", "image"])
    wf.link(6, 0, 5, "image1").link(1, 0, 9, "model").link(12, 0, 11, "positive").link(13, 0, 11, "negative")
    wf.link(20, 0, 21, "hyper_lora").link(5, 0, 21, "images").link(21, 0, 9, "lora").link(22, 0, 24, "lora")
    wf.link(23, 0, 25, "lora").link(24, 0, 25, "model").link(9, 0, 24, "model").link(25, 0, 11, "model")
    wf.link(20, 0, 22, "hyper_lora").link(20, 0, 23, "hyper_lora").link(26, 0, 22, "images")
    wf.link(27, 0, 23, "images")
    _face_detailer(wf, 25)
    wf.data["nodes"].sort(key=lambda n: n["id"])
    return wf.data


BUILT = {"HyperLoRA-T2I": t2i, "HyperLoRA-T2I-ControlNet": controlnet, "HyperLoRA-T2I-FaceDetailer": face_detailer,
         "HyperLoRA-T2I-InstantID": instantid, "HyperLoRA-T2I-ConceptSlider": concept_slider}


def real_folder() -> Path | None:
    """The folder of the official pack's own workflow files, when HYPERLORA_OFFICIAL_WORKFLOWS names one."""
    folder = os.environ.get(ENV)
    if not folder:
        return None
    if not Path(folder).is_dir():
        raise RuntimeError(f"{ENV}={folder} is not a folder: name the folder of the official workflow files.")
    return Path(folder)


def real_files() -> list[Path]:
    folder = real_folder()
    return sorted(folder.glob("*.json")) if folder else []


def official_workflows() -> dict[str, dict]:
    """name -> workflow: the five built ones ("built:<name>"), and the real files ("file:<name>") when named."""
    workflows = {f"built:{name}": build() for name, build in BUILT.items()}
    for path in real_files():
        workflows[f"file:{path.stem}"] = json.loads(path.read_text(encoding="utf-8"))
    return workflows


def official(name: str) -> dict:
    """One built official workflow by the official file's name."""
    return BUILT[name]()
