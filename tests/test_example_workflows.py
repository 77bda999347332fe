"""The example workflows load in ComfyUI without red nodes, keep the recommended settings, and match
their generator (scripts/build_example_workflows.py)."""

from __future__ import annotations

import copy
import json
import sys

import pytest

from hyperlora_core import TRIGGER_WORDS
from scripts import build_example_workflows as build
from scripts import workflow_builder as builder
from tests.workflow_validation import (
    NOTE_TYPES,
    load_pack_schemas,
    release_schemas,
    supported_releases,
    validate_workflow,
    widget_slots,
)

RELEASES = supported_releases()
CORE = {kind: schema for release in RELEASES for kind, schema in release_schemas(release).items()}  # newest wins
PACK = load_pack_schemas()
SCHEMAS = {**release_schemas(RELEASES[-1]), **PACK}
OUTPUT_NODES = {kind for kind, schema in {**CORE, **PACK}.items() if schema.get("output_node")}
APPLY_NODES = {"HyperLoRAApplyFace": "strength", "HyperLoRAApply": "id_strength", "HyperLoRAApplyConditioning":
               "strength"}
REPEAT = "HyperLoRARepeatLatent"  # a strength sweep's latent: one copy per strength, same noise
CONDITIONING_PASSES = ("ControlNetApplyAdvanced", "HyperLoRAApplyConditioning", "InpaintModelConditioning")
NAMES = [name for _, name, _ in build.shipped()]  # the examples and their per-release variants

# What each workflow is for: the node types it must contain.
REQUIRED_TYPES = {
    "hyperlora_one_photo": {"HyperLoRAApplyFace", "HyperLoRACheckpointLoader", "CLIPVisionLoader",
                            "HyperLoRAFaceAnalyzerLoader", "LoadImage"},
    "hyperlora_several_photos": {"BatchImagesNode", "HyperLoRAEncodeFace", "HyperLoRAPredictCoefficients",
                                 "HyperLoRAApply", "PreviewImage"},
    "hyperlora_controlnet": {"ControlNetLoader", "ControlNetApplyAdvanced", "HyperLoRAApplyFace"},
    "hyperlora_concept_slider": {"HyperLoRAConceptSlider", "HyperLoRAApplyFace", "HyperLoRAPredictCoefficients"},
    "hyperlora_mix_identities": {"HyperLoRAMixIdentities", "HyperLoRAApply"},
    "hyperlora_save_lora": {"HyperLoRAExportLoRA", "HyperLoRAApply"},
    "hyperlora_two_people": {"HyperLoRAApplyConditioning", "SolidMask", "MaskComposite"},
    "hyperlora_identity_from_30_percent": {"HyperLoRAApplyConditioning", "HyperLoRAPredictCoefficients"},
    "hyperlora_face_redraw": {"HyperLoRAFaceMask", "HyperLoRAApplyConditioning", "InpaintModelConditioning",
                              "ImageCompositeMasked"},
    "hyperlora_save_identity": {"HyperLoRAEncodeFace", "HyperLoRAPredictCoefficients", "HyperLoRASaveIdentity"},
    "hyperlora_from_saved_identity": {"HyperLoRALoadIdentity", "HyperLoRAApply"},
    "hyperlora_rank_by_likeness": {"HyperLoRALoadIdentity", "HyperLoRALikeness", "HyperLoRAFaceAnalyzerLoader"},
    "hyperlora_strength_sweep": {"HyperLoRALoadIdentity", "HyperLoRARepeatLatent", "HyperLoRAApplyConditioning",
                                 "HyperLoRALikeness", "PreviewImage"},
    "hyperlora_export_for_train_lora": {"HyperLoRAExportLoRA", "HyperLoRAPredictCoefficients", "BatchImagesNode"},
    "hyperlora_refine_with_train_lora": {"TrainLoraNode", "SaveLoRA", "LoraModelLoader", "VAEEncode",
                                         "BatchImagesNode"},
    # ComfyUI 0.14: Train LoRA without quantized_backward; 0.3: SaveLoRANode, and ImageBatch (no BatchImagesNode)
    "hyperlora_refine_with_train_lora_comfyui-0.14": {"TrainLoraNode", "SaveLoRA", "LoraModelLoader", "VAEEncode",
                                                      "BatchImagesNode"},
    "hyperlora_refine_with_train_lora_comfyui-0.3": {"TrainLoraNode", "SaveLoRANode", "VAEEncode", "ImageBatch"},
    "hyperlora_several_photos_comfyui-0.3": {"ImageBatch", "HyperLoRAEncodeFace", "HyperLoRAApply"},
    "hyperlora_save_identity_comfyui-0.3": {"ImageBatch", "HyperLoRASaveIdentity"},
    "hyperlora_export_for_train_lora_comfyui-0.3": {"ImageBatch", "HyperLoRAExportLoRA"},
}
# Workflows that write a file and render nothing: no sampler settings to keep.
FILE_ONLY = {"hyperlora_export_for_train_lora", "hyperlora_export_for_train_lora_comfyui-0.3"}
# Core Train LoRA continuing from an exported HyperLoRA LoRA (existing_lora) carries the identity too.
TRAINED_FROM_EXPORT = "TrainLoraNode"


def load(name: str) -> dict:
    return json.loads((build.OUT_DIR / f"{name}.json").read_text(encoding="utf-8"))


def schemas_of(name: str) -> dict:
    """The schemas a workflow is built with: its release's core nodes and ours."""
    return {**release_schemas(build.build_release(name)), **PACK}


def graph(name: str) -> Graph:
    return Graph(load(name), schemas_of(name))


class Graph:
    """Read access to a UI-format workflow: widget values by name, what feeds an input, ancestors."""

    def __init__(self, workflow: dict, schemas: dict = SCHEMAS):
        self.schemas = schemas
        self.nodes = {node["id"]: node for node in workflow["nodes"]}
        self.links = {link[0]: link for link in workflow["links"]}

    def of_type(self, kind: str) -> list[dict]:
        return [node for node in self.nodes.values() if node["type"] == kind]

    def widget(self, node: dict, name: str):
        slots = widget_slots(self.schemas[node["type"]])
        values = node["widgets_values"]
        if len(values) != len(slots):
            slots = [slot for slot in slots if slot.kind != "upload"]
        return next(v for slot, v in zip(slots, values) if slot.input_name == name and slot.kind == "value")

    def source(self, node: dict, input_name: str) -> dict | None:
        """The node linked into `input_name`, or None when it is open (or a plain widget)."""
        slot = next((s for s in node["inputs"] if s["name"] == input_name), None)
        if slot is None or slot["link"] is None:
            return None
        return self.nodes[self.links[slot["link"]][1]]

    def ancestors(self, node: dict) -> list[dict]:
        seen, todo = {}, [node]
        while todo:
            for slot in todo.pop()["inputs"]:
                if slot["link"] is not None:
                    parent = self.nodes[self.links[slot["link"]][1]]
                    if parent["id"] not in seen:
                        seen[parent["id"]] = parent
                        todo.append(parent)
        return list(seen.values())

    def text_source(self, encoder: dict):
        """A CLIPTextEncode's prompt: the Trigger Words node feeding it, or its own text."""
        fed = self.source(encoder, "text")
        return fed if fed is not None else self.widget(encoder, "text")


def settings_problems(workflow: dict, schemas: dict = SCHEMAS) -> list[str]:
    """Where a workflow departs from the recommended settings; empty if it keeps them all."""
    graph, problems = Graph(workflow, schemas), []
    for encoder in graph.of_type("CLIPTextEncode"):
        skip = graph.source(encoder, "clip")
        if skip is None or skip["type"] != "CLIPSetLastLayer" or graph.widget(skip, "stop_at_clip_layer") != -2:
            problems.append(f"CLIPTextEncode {encoder['id']} does not use CLIP skip -2")
    for kind, name in APPLY_NODES.items():
        for node in graph.of_type(kind):
            if not 0.75 <= graph.widget(node, name) <= 0.85:
                problems.append(f"{kind} {node['id']} {name} is not about 0.8")
    for node in graph.of_type(REPEAT):  # a sweep goes around the recommended strength
        if not any(0.75 <= float(v) <= 0.85 for v in graph.widget(node, "strengths").split(",")):
            problems.append(f"{REPEAT} {node['id']} does not include a strength of about 0.8")
    samplers = graph.of_type("KSampler")
    if not samplers:
        problems.append("no KSampler")
    for sampler in samplers:
        problems += sampler_problems(graph, sampler)
    return problems


def sampler_problems(graph: Graph, sampler: dict) -> list[str]:
    problems = []
    if graph.widget(sampler, "steps") < 20 or not 5 <= graph.widget(sampler, "cfg") <= 7:
        problems.append("KSampler steps < 20 or cfg outside 5..7")
    if (graph.widget(sampler, "sampler_name"), graph.widget(sampler, "scheduler")) != ("dpmpp_2m", "karras"):
        problems.append("KSampler is not dpmpp_2m / karras")
    latent = graph.source(sampler, "latent_image")
    if latent is not None and latent["type"] == REPEAT:  # a sweep: copies of the latent it repeats
        latent = graph.source(latent, "latent")
    redraw = latent is not None and latent["type"] == "InpaintModelConditioning"  # an existing image's size
    if not redraw and (latent is None or latent["type"] != "EmptyLatentImage" or [
            graph.widget(latent, "width"), graph.widget(latent, "height")] != [1024, 1024]):
        problems.append("the latent is not an SDXL 1024x1024 EmptyLatentImage")
    applied = [n for n in graph.ancestors(sampler) if n["type"] in APPLY_NODES or (
        n["type"] == TRAINED_FROM_EXPORT and graph.widget(n, "existing_lora") != "[None]")]
    by_conditioning = any(n["type"] == "HyperLoRAApplyConditioning" for n in graph.ancestors(sampler))
    if not applied or not by_conditioning and graph.source(sampler, "model")["type"] not in {
            *APPLY_NODES, "HyperLoRAConceptSlider", TRAINED_FROM_EXPORT, "LoraModelLoader"}:
        problems.append("the KSampler's model is not patched by HyperLoRA")
    for name, wants_trigger in (("positive", True), ("negative", False)):
        encoder = graph.source(sampler, name)
        while encoder is not None and encoder["type"] in CONDITIONING_PASSES:
            encoder = graph.source(encoder, name)
        if encoder is None or encoder["type"] != "CLIPTextEncode":
            problems.append(f"the {name} prompt is not a CLIPTextEncode")
            continue
        text = graph.text_source(encoder)
        if isinstance(text, dict):
            has_trigger = text["type"] == "HyperLoRATriggerWords"
            text = graph.widget(text, "prompt") if has_trigger else ""
        else:
            has_trigger = text.startswith(TRIGGER_WORDS)
        if has_trigger != wants_trigger or not text.strip():
            problems.append(f"the {name} prompt {'lacks' if wants_trigger else 'has'} the trigger words or is empty")
    return problems


# ---------------------------------------------------------------- the files


def test_generator_reproduces_the_committed_files():
    files = build.build_all()
    committed = {path.name: path.read_text(encoding="utf-8") for path in build.OUT_DIR.glob("*.json")}
    assert set(committed) == set(files), "example_workflows/ holds other .json files than the generator writes"
    for name, text in files.items():
        assert committed[name] == text, f"{name} is stale: run python scripts/build_example_workflows.py"


def test_readme_lists_every_workflow():
    text = build.README.read_text(encoding="utf-8")
    assert build.updated_readme(text, build.readme_table()) == text, (
        "README.md's workflow table is stale: run python scripts/build_example_workflows.py")
    section = text.split(build.START, 1)[1].split(build.END, 1)[0]
    for name in NAMES:
        assert f"example_workflows/{name}.json" in section


def test_all_workflows_exist():
    assert set(REQUIRED_TYPES) == set(NAMES)
    assert all((build.OUT_DIR / f"{name}.json").is_file() for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_loads_without_red_nodes(name):
    workflow = load(name)
    assert workflow["version"] == 0.4
    assert validate_workflow(workflow, schemas_of(name)) == []
    for node in workflow["nodes"]:
        assert node["type"] in CORE or node["type"] in PACK or node["type"] in NOTE_TYPES, node["type"]
    assert workflow["last_node_id"] == max(n["id"] for n in workflow["nodes"])
    assert workflow["last_link_id"] == max(link[0] for link in workflow["links"])


@pytest.mark.parametrize("name", NAMES)
def test_has_what_it_is_about(name):
    types = {node["type"] for node in load(name)["nodes"]}
    assert REQUIRED_TYPES[name] <= types, REQUIRED_TYPES[name] - types


@pytest.mark.parametrize("name", NAMES)
def test_every_node_leads_to_an_output(name):
    """A node that feeds no output node is never run by ComfyUI: a sign of a forgotten link."""
    graph = Graph(load(name), schemas_of(name))
    outputs = [n for n in graph.nodes.values() if n["type"] in OUTPUT_NODES]
    assert outputs
    used = {n["id"] for output in outputs for n in graph.ancestors(output)} | {n["id"] for n in outputs}
    unused = [n["type"] for n in graph.nodes.values() if n["id"] not in used and n["type"] not in NOTE_TYPES]
    assert unused == []


@pytest.mark.parametrize("name", NAMES)
def test_keeps_the_recommended_settings(name):
    if name in FILE_ONLY:
        export = graph(name).of_type("HyperLoRAExportLoRA")[0]
        assert 0.75 <= graph(name).widget(export, "recommended_strength") <= 0.85
        return
    assert settings_problems(load(name), schemas_of(name)) == []


@pytest.mark.parametrize("name", NAMES)
def test_uses_the_documented_model_names(name):
    graph = Graph(load(name), schemas_of(name))
    expected = {("CheckpointLoaderSimple", "ckpt_name"): builder.SDXL,
                ("HyperLoRACheckpointLoader", "checkpoint"): builder.HYPERLORA,
                ("HyperLoRAFaceAnalyzerLoader", "face_model"): builder.FACE_MODEL,
                ("CLIPVisionLoader", "clip_name"): builder.CLIP_VIT_L}
    for (kind, widget), value in expected.items():
        for node in graph.of_type(kind):
            assert graph.widget(node, widget) == value
    if not name.startswith("hyperlora_refine_with_train_lora"):  # that one continues an exported LoRA file
        assert graph.of_type("HyperLoRACheckpointLoader"), "every workflow needs the HyperLoRA checkpoint"


@pytest.mark.parametrize("name", NAMES)
def test_layout_is_readable(name):
    """No node hides another, and each node sits inside its own group's frame only."""
    workflow = load(name)
    boxes = [(n, (n["pos"][0], n["pos"][1] - builder.TITLE_H, n["size"][0], n["size"][1] + builder.TITLE_H))
             for n in workflow["nodes"]]
    for i, (a, box_a) in enumerate(boxes):
        for b, box_b in boxes[i + 1:]:
            assert not _overlap(box_a, box_b), f"nodes {a['id']} and {b['id']} overlap"
        inside = [g["title"] for g in workflow["groups"] if _overlap(box_a, g["bounding"])]
        assert len(inside) <= 1 and all(_contains(g["bounding"], box_a) for g in workflow["groups"]
                                        if g["title"] in inside), f"node {a['id']} straddles groups {inside}"


def _overlap(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _contains(outer, inner) -> bool:
    return (outer[0] <= inner[0] and outer[1] <= inner[1] and inner[0] + inner[2] <= outer[0] + outer[2]
            and inner[1] + inner[3] <= outer[1] + outer[3])


# ---------------------------------------------------------------- the workflows' particular graphs


def test_several_photos_batches_three_photos_and_previews_the_crops():
    graph = Graph(load("hyperlora_several_photos"))
    encode = graph.of_type("HyperLoRAEncodeFace")[0]
    photos = [n for n in graph.ancestors(encode) if n["type"] == "LoadImage"]
    assert graph.source(encode, "images")["type"] == "BatchImagesNode" and len(photos) == 3
    crops = [link for link in graph.links.values() if link[1] == encode["id"] and link[2] == 1]
    assert [graph.nodes[link[3]]["type"] for link in crops] == ["PreviewImage"]


def test_controlnet_conditions_both_prompts_with_the_pose_image():
    graph = Graph(load("hyperlora_controlnet"))
    sampler, control = graph.of_type("KSampler")[0], graph.of_type("ControlNetApplyAdvanced")[0]
    assert graph.source(sampler, "positive") is control and graph.source(sampler, "negative") is control
    assert graph.source(control, "image")["type"] == "LoadImage"
    assert graph.source(control, "control_net")["type"] == "ControlNetLoader"


def test_concept_slider_sits_on_the_identity_and_takes_two_images():
    graph = Graph(load("hyperlora_concept_slider"))
    slider = graph.of_type("HyperLoRAConceptSlider")[0]
    assert graph.source(slider, "model")["type"] in APPLY_NODES
    a, b = graph.source(slider, "coefficients_a"), graph.source(slider, "coefficients_b")
    assert a["type"] == b["type"] == "HyperLoRAPredictCoefficients" and a is not b
    images = [{n["id"] for n in graph.ancestors(p) if n["type"] == "LoadImage"} for p in (a, b)]
    assert len(images[0]) == len(images[1]) == 1 and images[0] != images[1]


def test_mix_blends_two_identities_into_apply():
    graph = Graph(load("hyperlora_mix_identities"))
    mix = graph.of_type("HyperLoRAMixIdentities")[0]
    sources = [graph.source(mix, f"coefficients_{i}") for i in (1, 2)]
    assert all(s["type"] == "HyperLoRAPredictCoefficients" for s in sources) and sources[0] is not sources[1]
    assert graph.source(graph.of_type("HyperLoRAApply")[0], "coefficients") is mix


def test_save_lora_exports_the_predicted_identity():
    graph = Graph(load("hyperlora_save_lora"))
    export = graph.of_type("HyperLoRAExportLoRA")[0]
    assert graph.source(export, "coefficients")["type"] == "HyperLoRAPredictCoefficients"
    assert graph.widget(export, "filename_prefix").startswith("loras/")
    assert graph.widget(export, "destination") == "loras"


def test_identity_workflows_save_load_and_rank():
    graph = Graph(load("hyperlora_save_identity"))
    saver = graph.of_type("HyperLoRASaveIdentity")[0]
    assert graph.source(saver, "coefficients")["type"] == "HyperLoRAPredictCoefficients"
    name = graph.widget(saver, "name")
    for workflow in ("hyperlora_from_saved_identity", "hyperlora_rank_by_likeness"):
        graph = Graph(load(workflow))
        loader = graph.of_type("HyperLoRALoadIdentity")[0]
        assert graph.widget(loader, "identity") == f"{name}.safetensors"
        assert not graph.of_type("CLIPVisionLoader") and not graph.of_type("HyperLoRAEncodeFace")
    likeness = graph.of_type("HyperLoRALikeness")[0]
    assert graph.source(likeness, "coefficients") is loader
    decoded = graph.source(likeness, "images")
    latent = graph.source(graph.source(decoded, "samples"), "latent_image")
    assert graph.widget(latent, "batch_size") == 4 and graph.widget(likeness, "top_k") == 1


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith("hyperlora_refine_with_train_lora")])
def test_refine_continues_the_lora_the_shipped_export_writes(name):
    """Queued in order, the export workflow writes exactly the file the refine workflow's Train LoRA picks."""
    export = graph("hyperlora_export_for_train_lora")
    exporter = export.of_type("HyperLoRAExportLoRA")[0]
    prefix, key_style, destination = (export.widget(exporter, k) for k in ("filename_prefix", "key_style", "destination"))
    destination_prefix = sys.modules["hyperlora_pack_under_test.nodes.lora_destination"].destination_prefix
    written = f"{destination_prefix(prefix, destination, key_style)}_00001_.safetensors"  # a first export

    refine = graph(name)
    train = refine.of_type("TrainLoraNode")[0]
    assert destination == "loras" and refine.widget(train, "existing_lora") == written
    assert int(written.split("_steps_")[0].split("_")[-1]) == 0  # how Train LoRA reads the steps done
    assert refine.source(train, "latents")["type"] == "VAEEncode"
    saver = [n for n in refine.nodes.values() if n["type"] in ("SaveLoRA", "SaveLoRANode")]
    assert len(saver) == 1 and refine.source(saver[0], "lora") is train


def test_two_people_chains_two_identities_on_left_and_right_masks_and_the_model_through_both():
    graph = Graph(load("hyperlora_two_people"))
    sampler = graph.of_type("KSampler")[0]
    second = graph.source(sampler, "positive")
    first = graph.source(second, "positive")
    assert second["type"] == first["type"] == "HyperLoRAApplyConditioning"
    assert graph.source(second, "negative") is first and graph.source(sampler, "negative") is second
    assert graph.source(sampler, "model") is second and graph.source(second, "model") is first
    assert graph.source(first, "model")["type"] == "CheckpointLoaderSimple"
    people = [graph.source(n, "coefficients") for n in (first, second)]
    assert people[0] is not people[1]
    offsets = [graph.widget(graph.source(n, "mask"), "x") for n in (first, second)]
    assert offsets == [0, 512]
    half = graph.source(graph.source(first, "mask"), "source")
    assert [graph.widget(half, k) for k in ("value", "width", "height")] == [1.0, 512, 1024]


def test_identity_from_30_percent_starts_late_with_the_model_through_the_node():
    graph = Graph(load("hyperlora_identity_from_30_percent"))
    sampler = graph.of_type("KSampler")[0]
    identity = graph.source(sampler, "positive")
    assert identity["type"] == "HyperLoRAApplyConditioning" and graph.source(sampler, "negative") is identity
    assert graph.widget(identity, "start_at") == 0.3 and graph.widget(identity, "end_at") == 1.0
    assert graph.source(sampler, "model") is identity
    assert graph.source(identity, "model")["type"] == "CheckpointLoaderSimple"


def test_face_redraw_masks_the_face_applies_the_identity_there_and_pastes_it_back():
    graph = Graph(load("hyperlora_face_redraw"))
    face_mask = graph.of_type("HyperLoRAFaceMask")[0]
    picture = graph.source(face_mask, "image")
    identity = graph.of_type("HyperLoRAApplyConditioning")[0]
    inpaint = graph.of_type("InpaintModelConditioning")[0]
    paste = graph.of_type("ImageCompositeMasked")[0]
    assert graph.source(identity, "mask") is face_mask and graph.source(inpaint, "mask") is face_mask
    assert graph.source(inpaint, "pixels") is picture and graph.source(paste, "destination") is picture
    assert graph.source(paste, "mask") is face_mask and graph.source(inpaint, "positive") is identity
    assert graph.source(graph.of_type("KSampler")[0], "model") is identity
    assert graph.widget(inpaint, "noise_mask") is True
    assert 0.3 <= graph.widget(graph.of_type("KSampler")[0], "denoise") < 1.0
    coefficients = graph.source(identity, "coefficients")
    assert picture not in [n for n in graph.ancestors(coefficients) if n["type"] == "LoadImage"]


# ---------------------------------------------------------------- the checks can fail


def _set_widget(workflow, kind, name, value):
    node = next(n for n in workflow["nodes"] if n["type"] == kind)
    slots = widget_slots(SCHEMAS[kind])
    index = next(i for i, slot in enumerate(slots) if slot.input_name == name and slot.kind == "value")
    node["widgets_values"][index] = value


def _unlink_trigger_words(workflow):
    link = next(link for link in workflow["links"] if link[5] == "STRING")
    workflow["links"].remove(link)
    for node in workflow["nodes"]:
        for slot in node["inputs"]:
            if slot["link"] == link[0]:
                slot["link"] = None
        for slot in node["outputs"]:
            slot["links"] = [i for i in slot["links"] if i != link[0]]


@pytest.mark.parametrize("break_it", [
    lambda wf: _set_widget(wf, "CLIPSetLastLayer", "stop_at_clip_layer", -1),
    lambda wf: _set_widget(wf, "HyperLoRAApplyFace", "strength", 1.5),
    lambda wf: _set_widget(wf, "KSampler", "scheduler", "normal"),
    lambda wf: _set_widget(wf, "EmptyLatentImage", "width", 512),
    _unlink_trigger_words,
], ids=["clip_skip", "strength", "scheduler", "latent_size", "trigger_words"])
def test_settings_check_catches_a_departure(break_it):
    workflow = copy.deepcopy(load("hyperlora_one_photo"))
    break_it(workflow)
    assert settings_problems(workflow) != []


def test_validator_catches_a_broken_example():
    workflow = copy.deepcopy(load("hyperlora_several_photos"))
    encode = next(n for n in workflow["nodes"] if n["type"] == "HyperLoRAEncodeFace")
    encode["widgets_values"] = encode["widgets_values"][:-1]  # a widget value lost
    link = next(link for link in workflow["links"] if link[5] == "HYPERLORA")
    link[5] = "MODEL"  # a link saved with the wrong type
    codes = {problem.code for problem in validate_workflow(workflow, SCHEMAS)}
    assert codes == {"widget_count", "link_type_mismatch"}
