"""Issue 29's rule: every input of every node matters. For each node, each input that has a value of its own
(a widget: number, switch, text or dropdown) is changed, one at a time, from its default to another valid
value, and the node is run on tiny models (synthetic checkpoint, tiny ONNX face models, tiny CLIP): the
output must change, or stay the same where the input is documented not to change it (EXPECTED says why).

The inputs are read from the nodes' schemas, so an input added tomorrow fails here until it gets a line in
EXPECTED: a value to change it to, and either CHANGES or the reason it must not. Inputs that only take a link
(MODEL, IMAGE, coefficients, ...) have no default to change: LINKED names the test that shows each matters.
Outputs are compared whole (tensors exactly, files by their tensors and metadata, errors by their message).
"""

from __future__ import annotations

import dataclasses
import os
import re

import numpy as np
import pytest
import torch
from PIL import Image

from scripts.node_schemas import node_schemas
from tests.comfy_standin import ModelPatcher, TinyUNet, comfy, models_root, run_node  # noqa: F401
from tests.face_fixtures import GREY, paint_marker, tiny_clip_dir  # noqa: F401

CHANGES = "changes"

# node -> input -> (another valid value, CHANGES or why the output must stay the same[, context]).
# context: inputs set for both runs, where the input acts only with them (face_index needs face_selection index).
EXPECTED = {
    "HyperLoRACheckpointLoader": {
        "checkpoint": ("sdxl_tiny_no_base", CHANGES),
        "dtype": ("fp16", CHANGES),
        "device": ("cpu", ("where the bases live and the LoRA is computed, never what it is (no GPU here: auto "
                          "means the CPU too)")),
    },
    "HyperLoRAFaceAnalyzerLoader": {
        "face_model": ("models/antelopev2", "the old spelling saved workflows hold names the same folder"),
        "provider": ("cpu", "where ONNX Runtime runs, never what it computes (no GPU here: auto is the CPU)"),
    },
    "HyperLoRACLIPVisionLoader": {
        "clip_model": (None, "one CLIP folder is installed in the test models: there is no other valid value"),
    },
    "HyperLoRAEncodeFace": {
        "remove_background": (False, CHANGES),
        "grayscale": (True, CHANGES),
        "face_selection": ("score", CHANGES, {"images": "two_faces"}),
        "face_index": (1, CHANGES, {"images": "two_faces", "face_selection": "index"}),
        "skip_images_without_face": (True, CHANGES, {"images": "with_no_face"}),
        "base_condition": (False, CHANGES),
        "base_crop_left": (2.0, CHANGES),
        "base_crop_right": (2.0, CHANGES),
        "base_crop_top": (2.0, CHANGES),
        "base_crop_bottom": (2.0, CHANGES),
    },
    "HyperLoRAPredictCoefficients": {"image_weights": ("1, 0.25", CHANGES)},
    "HyperLoRAApply": {"id_strength": (0.3, CHANGES), "base_strength": (0.5, CHANGES)},
    "HyperLoRAApplyFace": {"strength": (0.3, CHANGES)},
    "HyperLoRAConceptSlider": {"strength": (0.9, CHANGES)},
    "HyperLoRAMixIdentities": {
        "weight_1": (3.0, CHANGES), "weight_2": (3.0, CHANGES), "weight_3": (0.5, CHANGES),
        "weight_4": (0.5, CHANGES),
    },
    "HyperLoRAExportLoRA": {
        "filename_prefix": ("loras/other", CHANGES),
        "key_style": ("kohya", CHANGES),
        "base_strength": (0.5, CHANGES),
        "recommended_strength": (0.5, CHANGES),  # the file's metadata: its tensors stay (checked below)
        "precision": ("fp32", CHANGES),
        "destination": ("loras", CHANGES),
    },
    "HyperLoRATriggerWords": {"prompt": ("a photo at the beach", CHANGES)},
    "HyperLoRALikeness": {"top_k": (1, CHANGES)},
    "HyperLoRASaveIdentity": {
        "name": ("someone_else", CHANGES),
        "overwrite": (True, CHANGES, {"name": "taken"}),  # only an existing name is replaced or refused
    },
    "HyperLoRALoadIdentity": {"identity": ("second.safetensors", CHANGES)},
    "HyperLoRAApplyConditioning": {
        "strength": (0.3, CHANGES), "start_at": (0.4, CHANGES), "end_at": (0.6, CHANGES),
        "fade_in": (0.2, CHANGES), "fade_out": (0.2, CHANGES), "region_mode": ("one pass", CHANGES),
        "strengths": ("0.5", CHANGES),
    },
    "HyperLoRAIdentityHook": {"strength": (0.3, CHANGES)},
    "HyperLoRAFaceMask": {
        "face_selection": ("largest", CHANGES, {"image": "two_faces"}),
        "face_index": (1, CHANGES, {"image": "two_faces", "face_selection": "index"}),
        "shape": ("box", CHANGES),
        "grow": (0.3, CHANGES),
        "grow_unit": ("pixels", CHANGES),
        "feather": (0.0, CHANGES),
        "skip_images_without_face": (True, CHANGES, {"image": "with_no_face"}),
    },
    "HyperLoRARepeatLatent": {"strengths": ("0.5, 1.0", CHANGES)},
}

# Inputs that only take a link, and the test that shows the output follows them.
LINKED = {
    "model": "test_nodes_pipeline.py (patches on the given model) and test_nodes_control.py (wrappers on a clone)",
    "coefficients": "test_nodes_pipeline.py: Apply/Export/Save equal the engine on the coefficients given",
    "coefficients_1": "test_nodes_pipeline.py::test_mix_identities_blends_the_base_part_by_the_weights_too",
    "coefficients_2": "test_nodes_pipeline.py::test_mix_identities_blends_the_base_part_by_the_weights_too",
    "coefficients_3": "here: weight_3 changes the mix only because coefficients_3 is connected",
    "coefficients_4": "here: weight_4 changes the mix only because coefficients_4 is connected",
    "coefficients_a": "test_nodes_pipeline.py::test_concept_slider_is_b_minus_a (A at -strength)",
    "coefficients_b": "test_nodes_pipeline.py::test_concept_slider_is_b_minus_a (B at +strength)",
    "images": "here: the Encode Face contexts change the photos; test_likeness.py scores each image",
    "image": "here: the Face Mask contexts change the picture; Apply Face's cache digest (test_nodes_pipeline.py)",
    "clip_vision": "test_nodes_pipeline.py (tokens equal the encoder called directly)",
    "face_analyzer": "test_face_detection.py and test_nodes_pipeline.py (the analyzer's faces are used)",
    "hyperlora": "test_nodes_pipeline.py and test_identity_library.py (another checkpoint is refused by name)",
    "face": "test_nodes_pipeline.py (Predict equals the engine on the face given)",
    "positive": "test_nodes_control.py (the scene prompt becomes the default cond, tagged copies follow it)",
    "negative": "test_nodes_control.py (tagged like positive)",
    "mask": "test_nodes_control.py::test_mask_and_region_prompt_go_on_the_identity_copies_only",
    "region_positive": "test_nodes_control.py::test_mask_and_region_prompt_go_on_the_identity_copies_only",
    "prev_hooks": "test_nodes_control.py::test_identity_hook_combines_with_previous_hooks_and_keyframes_without_changing_them",
    "hook_kf": "test_nodes_control.py::test_identity_hook_combines_with_previous_hooks_and_keyframes_without_changing_them",
    "latent": "test_repeat_latent.py (copies of the latent given) and integration/test_comfyui_control.py",
}

SCHEMAS = {schema.key: schema for schema in node_schemas()}
# The file dropdowns' first choice on the test models (the schemas above were read with no models installed).
INSTALLED = {"checkpoint": "sdxl_tiny_fidelity", "face_model": "antelopev2", "clip_model": "clip_vit_tiny",
             "identity": "first.safetensors"}


def widget_inputs():
    """(node, input, spec) of every input a user sets in the node (it has a default or a list of choices)."""
    found = []
    for key, schema in SCHEMAS.items():
        for _, name, (kind, options) in schema.inputs:
            if isinstance(kind, list) or "default" in options:
                found.append((key, name, (kind, options)))
    return found


def linked_inputs():
    return [(key, name) for key, schema in SCHEMAS.items() for _, name, (kind, options) in schema.inputs
            if not isinstance(kind, list) and "default" not in options]


WIDGETS = widget_inputs()


def test_every_input_has_a_check_or_a_stated_reason():
    """The day an input is added, this names it: give it a line in EXPECTED (or LINKED)."""
    missing = [f"{key}.{name}" for key, name, _ in WIDGETS if name not in EXPECTED.get(key, {})]
    missing += [f"{key}.{name} (a link)" for key, name in linked_inputs() if name not in LINKED]
    assert missing == [], "inputs with neither a check nor a stated reason: " + ", ".join(missing)
    stale = [f"{key}.{name}" for key, names in EXPECTED.items() for name in names
             if (key, name) not in {(k, n) for k, n, _ in WIDGETS}]
    assert stale == [], "EXPECTED names inputs the nodes no longer have: " + ", ".join(stale)


# ---------------------------------------------------------------------------------------------- the bench

def photo(*boxes, size=(640, 480)) -> Image.Image:
    return paint_marker(Image.new("RGB", size, GREY), boxes[0]) if len(boxes) == 1 else _many(size, boxes)


def _many(size, boxes):
    """Faces whose rankings differ: the first scores highest, the second is largest (the marker's green)."""
    image = Image.new("RGB", size, GREY)
    for box, (score, box_size) in zip(boxes, ((1.0, 0.4), (0.6, 0.7), (0.8, 0.5))):
        image = paint_marker(image, box, score=score, size=box_size)
    return image


def batch(*images) -> torch.Tensor:
    return torch.stack([torch.from_numpy(np.array(i)).float() / 255 for i in images])


class Bench:
    """The tiny models and inputs every node runs on, built through the nodes themselves."""

    def __init__(self, comfy):  # noqa: F811
        self.comfy = comfy
        self.pictures = {
            "one_face": batch(photo((250, 150, 400, 300)), photo((100, 200, 250, 350))),
            "two_faces": batch(_many((640, 480), ((60, 100, 200, 240), (380, 120, 560, 300)))),
            "with_no_face": batch(photo((250, 150, 400, 300)), Image.new("RGB", (640, 480), GREY)),
        }
        self.hyperlora = self.run("HyperLoRACheckpointLoader", checkpoint="sdxl_tiny_fidelity")[0]
        self.analyzer = self.run("HyperLoRAFaceAnalyzerLoader", face_model="antelopev2")[0]
        self.clip_vision = self.run("HyperLoRACLIPVisionLoader", clip_model="clip_vit_tiny")[0]
        self.face = self.run("HyperLoRAEncodeFace", images=self.pictures["one_face"])[0]
        self.coefficients = self.run("HyperLoRAPredictCoefficients", face=self.face)[0]
        gen = torch.Generator().manual_seed(7)
        self.others = [self.coefficients_like(gen, label) for label in ("b", "c", "d")]

    def coefficients_like(self, gen, label):
        shape = self.coefficients.alpha.shape
        alpha, beta = (torch.nn.functional.normalize(torch.randn(shape, generator=gen), dim=-1) for _ in range(2))
        return self.comfy.pack.nodes.types.Coefficients(self.hyperlora, alpha, beta, label)

    def model(self):
        return ModelPatcher(TinyUNet(self.coefficients.factors("id")))

    def links(self) -> dict:
        """The linked inputs of a node, from what the bench has built so far."""
        conds = [[torch.ones(1, 2, 4), {"pooled_output": torch.zeros(1, 4)}]]
        coefficients = getattr(self, "coefficients", None)
        others = getattr(self, "others", [None] * 3)
        found = {
            "hyperlora": getattr(self, "hyperlora", None), "clip_vision": getattr(self, "clip_vision", None),
            "face_analyzer": getattr(self, "analyzer", None), "face": getattr(self, "face", None),
            "coefficients": coefficients, "images": self.pictures["one_face"],
            "image": self.pictures["one_face"][:1], "coefficients_1": coefficients, "coefficients_2": others[0],
            "coefficients_3": others[1], "coefficients_4": others[2], "coefficients_a": others[0],
            "coefficients_b": coefficients, "positive": conds, "latent": {"samples": torch.ones(1, 4, 8, 8)},
            "negative": [[torch.zeros(1, 2, 4), {"pooled_output": torch.zeros(1, 4)}]],
        }
        if coefficients is not None:
            found["model"] = self.model()
        return {name: value for name, value in found.items() if value is not None}

    def run(self, key: str, **values):
        """Run a node with its schema's defaults, the bench's links and `values`; its outputs."""
        schema = SCHEMAS[key]
        links = self.links()
        inputs = {}
        for section, name, (kind, options) in schema.inputs:
            if name in values:
                inputs[name] = values[name]
            elif "default" in options:
                inputs[name] = options["default"]
            elif name in INSTALLED:
                inputs[name] = INSTALLED[name]
            elif name in links and (section == "required" or name.startswith("coefficients_")):
                inputs[name] = links[name]
        for name in ("images", "image"):
            if isinstance(inputs.get(name), str):
                inputs[name] = self.pictures[inputs[name]]
        if key == "HyperLoRALikeness":
            inputs["face"] = self.face
        return tuple(run_node(self.comfy.nodes[key], **inputs).args)


@pytest.fixture
def bench(comfy, tmp_path):  # noqa: F811
    comfy.folder_paths.add_model_folder_path("loras", str(tmp_path / "models_loras"))  # Export's destination
    return Bench(comfy)


# ---------------------------------------------------------------------------------------------- comparing

def signature(value, depth: int = 0):
    """What an output is, as comparable data: tensors, arrays and images by their numbers, written files by
    their tensors and metadata, objects by their fields (a node's result objects are small dataclasses)."""
    import safetensors

    if depth > 24:
        return "..."
    if isinstance(value, torch.Tensor):
        return ("tensor", str(value.dtype), tuple(value.shape), value.detach().float().flatten().tolist())
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.flatten().tolist())
    if isinstance(value, Image.Image):
        return ("image", signature(np.asarray(value), depth + 1))
    if isinstance(value, str) and value.endswith(".safetensors") and os.path.isfile(value):
        with safetensors.safe_open(value, "pt") as f:
            metadata = {k: v for k, v in (f.metadata() or {}).items() if k != "hyperlora.created"}
            tensors = {k: signature(f.get_tensor(k), depth + 1) for k in sorted(f.keys())}
        where = re.sub(r"_\d{5}_", "_N_", os.path.basename(value))  # the next free number is no change
        return ("file", os.path.basename(os.path.dirname(value)), where, metadata, tensors)
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    if isinstance(value, dict):
        return {str(k): signature(v, depth + 1) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, (list, tuple)):
        return [signature(v, depth + 1) for v in value]
    if dataclasses.is_dataclass(value):
        return (type(value).__name__, {f.name: signature(getattr(value, f.name), depth + 1)
                                       for f in dataclasses.fields(value) if not f.name.startswith("_")
                                       and f.name not in ("hyperlora", "engine")})
    if hasattr(value, "__dict__"):
        return (type(value).__name__, {k: signature(v, depth + 1) for k, v in vars(value).items()
                                       if not k.startswith("__") and k not in ("hyperlora", "engine", "model")
                                       and not callable(v)})
    return type(value).__name__


def outcome(bench, key, **values):
    """The node's outputs as data, or the refusal it gave (a refusal is an outcome too)."""
    try:
        result = bench.run(key, **values)
    except (ValueError, RuntimeError) as error:
        return ("refused", type(error).__name__, str(error)[:200])
    if key == "HyperLoRACheckpointLoader":  # what a checkpoint is: its dtype and the LoRA it makes
        (hyperlora,) = result
        coefficients = bench.comfy.pack.nodes.types.Coefficients(hyperlora, bench.coefficients.alpha, None)
        return (str(hyperlora.engine.dtype), signature(coefficients.factors("id")))
    if key == "HyperLoRAFaceAnalyzerLoader":
        (analyzer,) = result
        faces = analyzer.detect(np.array(photo((250, 150, 400, 300)))[:, :, ::-1].copy(), 640)
        return (analyzer.providers, [signature(analyzer.embedding(np.array(photo((250, 150, 400, 300)))[:, :, ::-1]
                                                                  .copy(), face)) for face in faces])
    return signature(result)


@pytest.mark.parametrize("key, name, spec", WIDGETS, ids=[f"{k}.{n}" for k, n, _ in WIDGETS])
def test_changing_one_input_changes_the_output_as_documented(bench, key, name, spec):
    if name not in EXPECTED.get(key, {}):
        pytest.fail(f"{key}.{name} has neither a check nor a stated reason (see test_every_input_has_a_check...)")
    value, expectation, *context = EXPECTED[key][name]
    context = context[0] if context else {}
    kind, options = spec
    if key == "HyperLoRALoadIdentity":
        for label, coefficients in (("first", bench.coefficients), ("second", bench.others[0])):
            bench.run("HyperLoRASaveIdentity", coefficients=coefficients, name=label, overwrite=True)
    if isinstance(kind, list):  # the choices as the node lists them on the test models
        (live,) = [i for i in bench.comfy.nodes[key].define_schema().inputs if i.id == name]
        kind = list(live.options)
    if value is None:
        assert expectation != CHANGES and len(kind) == 1, "a dropdown with one choice is the only excuse here"
        return
    default = options.get("default", INSTALLED.get(name))
    assert value != default, f"{key}.{name}: the other value must differ from the default {default!r}"
    if isinstance(kind, list):
        assert value in kind or (key, name) == ("HyperLoRAFaceAnalyzerLoader", "face_model"), (value, kind)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        assert options.get("min", -np.inf) <= value <= options.get("max", np.inf)
    if key == "HyperLoRASaveIdentity":
        bench.run(key, name="taken", overwrite=True)  # the name exists before both runs
    before = outcome(bench, key, **context)
    after = outcome(bench, key, **{**context, name: value})
    if expectation == CHANGES:
        assert after != before, f"{key}.{name}: {default!r} -> {value!r} changed nothing in the output"
        assert after[0] != "refused" or before[0] != "refused", (before, after)
    else:
        assert after == before, f"{key}.{name} must not change the output ({expectation})"
    if (key, name) == ("HyperLoRAExportLoRA", "recommended_strength"):  # metadata only, as its tooltip says
        assert before[0][4] == after[0][4] and before[0][3] != after[0][3]
