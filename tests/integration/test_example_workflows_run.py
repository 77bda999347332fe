"""Every file in example_workflows/ runs end to end on a real ComfyUI server, through its HTTP API.

The server (main.py --cpu) gets a base directory laid out as the README tells a user to install:
tiny HyperLoRA checkpoints, tiny AntelopeV2 ONNX models and a tiny CLIP ViT under the README's folders,
and our pack in custom_nodes. The multi-GB core loaders (checkpoint, ControlNet, ...) are swapped for
tiny stand-ins by a test-only package (standin_nodes/, see its docstring) that keeps their names, inputs
and file lists; an empty placeholder file under the name the workflow asks for sits in the folder the
core loader lists. Every LoadImage gets a photo the tiny face detector finds a face in.

Each workflow is sent as the frontend sends it (UI format -> API format with the server's /object_info).
The one change: the image size is shrunk (1024 -> RUN_SIZE) so that 30 sampler steps take seconds on a
CPU; every other value, model names included, is as shipped. Required: the prompt is accepted and
succeeds, nothing comes from the cache (the caches are emptied between workflows), every output node
has output, images are not one flat colour, exported LoRA files load, are finite and fit the model.
A workflow added to example_workflows/ joins this test by itself.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from scripts.build_example_workflows import OUT_DIR, README
from tests.face_fixtures import GREY, paint_marker, tiny_clip_dir  # noqa: F401
from tests.integration.conftest import (
    COMFYUI_PATH,
    PACK_ROOT,
    for_this_release,
    import_comfyui,
    install_pack,
    running_comfyui,
)
from tests.integration.log_checks import assert_no_problems_of_ours
from tests.integration.test_example_workflows_server import get_json, post_prompt, to_api_prompt
from tests.workflow_validation import release_schemas, supported_releases, widget_slots

WORKFLOWS = sorted(OUT_DIR.glob("*.json"))
RUN_SIZE = 128  # pixels: latents of 16 x 16
SIZE_INPUTS = {"EmptyLatentImage": ("width", "height"), "EmptySD3LatentImage": ("width", "height")}
# Like the size: a fine-tune of two steps shows the graph works; the shipped 100 would take minutes on a CPU.
RUN_VALUES = {"TrainLoraNode": {"steps": 2},
              # the identity the other workflows load is installed already (install_identity_files):
              # saving it again from the photos replaces it, as a user re-saving would
              "HyperLoRASaveIdentity": {"overwrite": True}}
# Output nodes of ComfyUI's that report nothing to the page: what they write is checked instead.
SILENT_OUTPUT_NODES = {"SaveLoRANode", "SaveLoRA"}  # SaveLoRA since ComfyUI 0.4
RUN_TIMEOUT_S = 300
START_TIMEOUT_S = 120
NO_FACE_PHOTO, NO_FACE_SIZE = "no_face.png", (600, 400)
# What the user is told when a photo has no face, by the node that meets it: only what that node offers.
NO_FACE_ADVICE = {"HyperLoRAEncodeFace": "turn on 'skip_images_without_face' on the Encode Face node",
                  "HyperLoRAApplyFace": "Apply Face cannot, so use HyperLoRA Encode Face with "
                                        "'skip_images_without_face' on"}
STANDIN_DIR = PACK_ROOT / "tests" / "integration" / "standin_nodes"

# Where the README's model table puts each file (relative to ComfyUI/models); checked against README.md.
HYPERLORA_VARIANTS = ("sdxl_hyper_id_lora_v1_fidelity", "sdxl_hyper_id_lora_v1_edit")
README_FOLDERS = {
    "hyperlora": "hyper_lora/hyper_lora/",
    "clip_vit": "hyper_lora/clip_vit/clip_vit_large_14/",
    "antelopev2": "insightface/models/antelopev2/",
    "clip_vision": "clip_vision/",
}
# Core loaders the stand-in package replaces: the input naming the file, and the folder it is listed from.
STANDIN_FILES = {
    "CheckpointLoaderSimple": ("ckpt_name", "checkpoints"),
    "ControlNetLoader": ("control_net_name", "controlnet"),
    "DiffControlNetLoader": ("control_net_name", "controlnet"),
    "VAELoader": ("vae_name", "vae"),
    "UNETLoader": ("unet_name", "diffusion_models"),
}
# Core loaders that read a real (tiny) file: the input naming it, the folder, and how to write the file.
TINY_FILES = {"CLIPVisionLoader": ("clip_name", "clip_vision")}


# Core nodes of every supported release (the newest's schema where they differ): for reading saved widgets.
CORE_SCHEMAS = {kind: schema for release in supported_releases() for kind, schema in release_schemas(release).items()}


def load_workflow(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def nodes_of(workflows, kind: str):
    return [node for wf in workflows for node in wf["nodes"] if node["type"] == kind]


def face_photo(number: int):
    """A 640 x 480 photo with one face marker, different for every input image (place, size, background)."""
    from PIL import Image

    rng = np.random.default_rng(number)
    background = tuple(int(v) for v in np.clip(np.array(GREY) + rng.integers(-40, 40, 3), 0, 255))
    side = int(rng.integers(110, 190))
    x, y = int(rng.integers(40, 640 - side - 40)), int(rng.integers(30, 480 - side - 30))
    return paint_marker(Image.new("RGB", (640, 480), background), (x, y, x + side, y + side),
                        score=float(rng.uniform(0.8, 1.0)), size=float(rng.uniform(0.3, 0.7)))


def write_tiny_clip_file(tiny_clip_dir: Path, path: Path) -> None:  # noqa: F811
    """The tiny CLIP ViT as one file (as in clip_vision/), its config in the metadata for the stand-in."""
    from safetensors.torch import load_file, save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    config = (tiny_clip_dir / "config.json").read_text(encoding="utf-8")
    save_file(load_file(str(tiny_clip_dir / "model.safetensors")), str(path), metadata={"config": config})


def install_models(models: Path, workflows: list[dict], tiny_unet, tiny_clip_dir: Path) -> None:  # noqa: F811
    from tests.integration.tiny_models import write_matching_checkpoint
    from tests.tiny_onnx import write_antelopev2

    first = write_matching_checkpoint(models / README_FOLDERS["hyperlora"] / HYPERLORA_VARIANTS[0], tiny_unet)
    for variant in HYPERLORA_VARIANTS[1:]:
        shutil.copytree(first, models / README_FOLDERS["hyperlora"] / variant)
    shutil.copytree(tiny_clip_dir, models / README_FOLDERS["clip_vit"])
    write_antelopev2(models / README_FOLDERS["antelopev2"])
    install_identity_files(models, first)
    for kind, (input_name, folder) in TINY_FILES.items():
        for node in nodes_of(workflows, kind):
            write_tiny_clip_file(tiny_clip_dir, models / folder / node_value(node, input_name))
    for kind, (input_name, folder) in STANDIN_FILES.items():
        for node in nodes_of(workflows, kind):
            path = models / folder / node_value(node, input_name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"test placeholder: the stand-in loader never reads it")


def install_identity_files(models: Path, variant: Path) -> None:
    """What the identity workflows load: a saved identity for the variant and the LoRA Train LoRA continues."""
    import torch
    from safetensors.torch import save_file

    from hyperlora_core import load_hyperlora
    from hyperlora_core.engine.trainer_lora import trainer_state_dict
    from hyperlora_core.library import identity_file
    from scripts.train_lora_workflows import TRAINER_LORA
    from scripts.workflow_builder import IDENTITY

    engine = load_hyperlora(variant)
    shape = (engine.config.num_queries, engine.config.num_basis)
    alpha = torch.nn.functional.normalize(torch.randn(shape, generator=torch.Generator().manual_seed(0)), dim=-1)
    saved = identity_file.SavedIdentity(
        alpha, None, IDENTITY, variant.name, identity_file.checkpoint_fingerprint(variant), "2026-01-01",
        arcface=torch.nn.functional.normalize(torch.ones(512), dim=0))
    identity_file.save_identity(models / "hyper_lora" / "identities" / f"{IDENTITY}.safetensors", saved)
    lora = models / "loras" / TRAINER_LORA
    lora.parent.mkdir(parents=True, exist_ok=True)
    save_file(trainer_state_dict([(engine.lora_factors(alpha), 1.0)], dtype=torch.float32), str(lora))


def node_value(node: dict, input_name: str):
    """A core node's saved widget value, found by input name through ComfyUI's own schema of the node."""
    slots = widget_slots(CORE_SCHEMAS[node["type"]])
    return node["widgets_values"][[slot.input_name for slot in slots].index(input_name)]


@pytest.fixture(scope="module")
def tiny_unet():
    import_comfyui()
    from tests.integration import tiny_pipeline

    return tiny_pipeline.build_unet()


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_unet, tiny_clip_dir):  # noqa: F811
    if not COMFYUI_PATH:
        pytest.skip("set COMFYUI_PATH to a ComfyUI checkout to run the integration tests")
    from PIL import Image

    base = tmp_path_factory.mktemp("comfy_run")
    install_pack(base)
    (base / "custom_nodes" / "hyperlora_test_standins").symlink_to(STANDIN_DIR, target_is_directory=True)
    (base / "HYPERLORA_TEST_STANDINS").write_text("the test-only stand-in loaders may replace core loaders here\n")
    workflows = [load_workflow(path) for path in WORKFLOWS]
    install_models(base / "models", workflows, tiny_unet, tiny_clip_dir)
    (base / "input").mkdir()
    names = sorted({node_value(node, "image") for node in nodes_of(workflows, "LoadImage")})
    for number, name in enumerate(names):
        face_photo(number).save(base / "input" / name, format="PNG")  # lossless whatever the name: exact markers
    Image.new("RGB", NO_FACE_SIZE, GREY).save(base / "input" / NO_FACE_PHOTO)
    with running_comfyui(base, START_TIMEOUT_S) as (url, log_path):
        yield url, get_json(f"{url}/object_info"), log_path, base


def empty_caches(base_url: str) -> None:
    """POST /free, then wait until the prompt worker has taken the flags (it empties its caches then)."""
    request = urllib.request.Request(f"{base_url}/free", method="POST", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"unload_models": True, "free_memory": True}).encode())
    urllib.request.urlopen(request, timeout=30).close()
    deadline = time.monotonic() + 30
    while get_json(f"{base_url}/hyperlora_test/pending_flags")["flags"]:
        assert time.monotonic() < deadline, "the prompt worker did not take the /free flags"
        time.sleep(0.05)


def wait_for_history(base_url: str, prompt_id: str, log_path: Path) -> dict:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        history = get_json(f"{base_url}/history/{prompt_id}")
        if prompt_id in history:
            return history[prompt_id]
        time.sleep(0.2)
    pytest.fail(f"no result after {RUN_TIMEOUT_S} s:\n{log_path.read_text()[-4000:]}")


def run_prompt(base_url: str, prompt: dict, log_path: Path) -> dict:
    """Queue a prompt on empty caches; its history entry once it has finished."""
    empty_caches(base_url)
    status, answer = post_prompt(base_url, prompt)
    assert status == 200, ("the server refused the prompt. A model file it lacks? Our loaders' files go where "
                           "the README says (README_FOLDERS); a core loader needs an entry in STANDIN_FILES or "
                           "TINY_FILES.\n" + json.dumps(answer, indent=1)[:4000])
    return wait_for_history(base_url, answer["prompt_id"], log_path)


def fetch_image(base_url: str, image: dict) -> np.ndarray:
    from PIL import Image

    query = urllib.parse.urlencode({k: image[k] for k in ("filename", "subfolder", "type")})
    with urllib.request.urlopen(f"{base_url}/view?{query}", timeout=30) as response:
        return np.asarray(Image.open(response).convert("RGB"), dtype=np.float32)


LORA_KEY_SUFFIXES = (".lora_up.weight", ".lora_down.weight", ".lora_A.weight", ".lora_B.weight", ".alpha")


def lora_module(key: str) -> str:
    """The module a LoRA tensor belongs to, in any key style (ours, kohya, Train LoRA's)."""
    return next((key[: -len(suffix)] for suffix in LORA_KEY_SUFFIXES if key.endswith(suffix)), key.split(".")[0])


def check_lora_file(path: str, tiny_unet) -> None:
    """Loads, is finite, and every LoRA module names a weight of the model it was made for."""
    import comfy.lora
    import torch
    from safetensors.torch import load_file

    tensors = load_file(path)
    assert tensors, f"{path} is empty"
    assert all(torch.isfinite(t.float()).all() for t in tensors.values()), f"{path} has NaN or inf"
    key_map = comfy.lora.model_lora_keys_unet(tiny_unet.model, {})
    patches = comfy.lora.load_lora(tensors, key_map, log_missing=False)
    modules = {lora_module(key) for key in tensors}
    assert len(patches) == len(modules) > 0, f"{path}: {len(patches)} of {len(modules)} modules fit the model"


def check_trained_lora(output: Path, prefix: str) -> None:
    """The file core Save LoRA wrote (newest for the prefix): it loads and is finite."""
    import torch
    from safetensors.torch import load_file

    folder, name = (output / prefix).parent, (output / prefix).name
    files = sorted(folder.glob(f"{name}_*_steps_*.safetensors"), key=lambda p: p.stat().st_mtime)
    assert files, f"Save LoRA wrote nothing for {prefix} in {output}"
    tensors = load_file(str(files[-1]))
    assert tensors and all(torch.isfinite(t.float()).all() for t in tensors.values())


def test_readme_names_the_folders_the_models_are_placed_in():
    readme = README.read_text(encoding="utf-8")
    for folder in README_FOLDERS.values():
        assert f"`{folder}" in readme, folder
    for variant in HYPERLORA_VARIANTS:
        assert f"{README_FOLDERS['hyperlora']}{variant}/" in readme, variant


@pytest.mark.parametrize("path", WORKFLOWS, ids=[path.stem for path in WORKFLOWS])
def test_workflow_runs_end_to_end(server, path, tiny_unet):
    other_release = for_this_release(path)
    if other_release:
        pytest.skip(other_release)
    base_url, object_info, log_path, _ = server
    prompt = runnable_prompt(load_workflow(path), object_info)
    result = run_prompt(base_url, prompt, log_path)
    check_result(server, path, prompt, result, tiny_unet)


def runnable_prompt(workflow: dict, object_info: dict) -> dict:
    """The API prompt, with only the image size and the training steps made small for a CPU."""
    prompt = to_api_prompt(workflow, object_info)
    for node in prompt.values():
        for input_name in SIZE_INPUTS.get(node["class_type"], ()):
            node["inputs"][input_name] = RUN_SIZE
        node["inputs"].update(RUN_VALUES.get(node["class_type"], {}))
    return prompt


def check_result(server, path: Path, prompt: dict, result: dict, tiny_unet, log_start: int = 0) -> None:
    """It succeeded, ran afresh, every output node gave a real output, and the log (from `log_start` on)
    shows no problem of ours."""
    base_url, object_info, log_path, _ = server

    messages = dict(result["status"]["messages"])
    assert result["status"]["status_str"] == "success", json.dumps(messages.get("execution_error"), indent=1)
    assert messages["execution_cached"]["nodes"] == [], "served from the cache: a stale result, not this run"
    output_nodes = {node_id for node_id, node in prompt.items() if object_info[node["class_type"]]["output_node"]}
    assert output_nodes, f"{path.name} has no output node"
    silent = {node_id for node_id in output_nodes if prompt[node_id]["class_type"] in SILENT_OUTPUT_NODES}
    for node_id in silent:  # SaveLoRANode: <output>/<prefix>_<steps>_steps_<counter>_.safetensors
        check_trained_lora(server[3] / "output", prompt[node_id]["inputs"]["prefix"])
    output_nodes -= silent
    missing = output_nodes - set(result["outputs"])  # other nodes may add previews (Encode Face does)
    assert not missing, f"output nodes without output: {sorted(missing)}"
    for node_id in sorted(output_nodes):
        output = result["outputs"][node_id]
        kind = prompt[node_id]["class_type"]
        assert any(output.values()), f"node {node_id} ({kind}) gave no output"
        for image in output.get("images", []):
            pixels = fetch_image(base_url, image)
            assert pixels.std(axis=(0, 1)).max() > 2.0, f"node {node_id} ({kind}): a flat image {image}"
        for text in output.get("text", []):
            if kind == "HyperLoRASaveIdentity":
                from hyperlora_core.library.identity_file import load_identity

                assert load_identity(text).fingerprint.startswith("sha256:")
            elif str(text).endswith(".safetensors"):
                check_lora_file(text, tiny_unet)
    check_sweep(prompt, result)
    standins = get_json(f"{base_url}/hyperlora_test/pending_flags")["standins"]
    assert standins, "the core loaders were not swapped"
    assert_no_problems_of_ours(log_path.read_text()[log_start:])


def check_sweep(prompt: dict, result: dict) -> None:
    """A strength sweep (Repeat Latent): Likeness scored one image per strength and wrote each score on it."""
    sweeps = [node for node in prompt.values() if node["class_type"] == "HyperLoRARepeatLatent"]
    if not sweeps:
        return
    count = len(sweeps[0]["inputs"]["strengths"].split(","))
    likeness = [node_id for node_id, node in prompt.items() if node["class_type"] == "HyperLoRALikeness"]
    assert likeness, "a sweep without Likeness scores"
    for node_id in likeness:
        scored = [line for line in result["outputs"][node_id]["text"] if line.startswith("image ")]
        assert len(scored) == count, f"{len(scored)} scores for {count} strengths"
        shown = [other for other, node in prompt.items() if node["class_type"] == "PreviewImage"
                 and node["inputs"]["images"] == [node_id, 2]]  # Likeness's 'preview': each score on its image
        assert shown and all(len(result["outputs"][other]["images"]) == count for other in shown), shown


@pytest.mark.parametrize("path", WORKFLOWS, ids=[path.stem for path in WORKFLOWS])
def test_a_photo_without_a_face_is_named_with_what_to_do(server, path):
    """The first photo swapped for one without a face: the error names it and offers only that node's options."""
    if for_this_release(path):
        pytest.skip(for_this_release(path))
    base_url, object_info, log_path, _ = server
    prompt = to_api_prompt(load_workflow(path), object_info)
    if not any(node["class_type"] in NO_FACE_ADVICE for node in prompt.values()):
        pytest.skip("no face photo in this workflow (a saved identity, or a fine-tune on photos)")
    photo = min((node_id for node_id, node in prompt.items() if node["class_type"] == "LoadImage"), key=int)
    prompt[photo]["inputs"]["image"] = NO_FACE_PHOTO
    for node in prompt.values():
        for input_name in SIZE_INPUTS.get(node["class_type"], ()):
            node["inputs"][input_name] = RUN_SIZE
    result = run_prompt(base_url, prompt, log_path)

    assert result["status"]["status_str"] == "error"
    error = dict(result["status"]["messages"])["execution_error"]
    assert error["node_type"] in NO_FACE_ADVICE, error
    width, height = NO_FACE_SIZE
    message = error["exception_message"]
    assert re.match(rf"No face found in image 1 of \d+ \({width}x{height} pixels\)\.", message), message
    assert NO_FACE_ADVICE[error["node_type"]] in message
    assert "--skip-missing" not in message


def test_the_refine_chain_runs_as_shipped(server, tiny_unet):
    """Export for Train LoRA, then the refine workflow for this release, queued in that order with no widget
    edited: the export writes exactly the file Train LoRA's existing_lora names, and the refine run succeeds."""
    from scripts.train_lora_workflows import REFINE, TRAINER_LORA

    base_url, object_info, log_path, base = server
    log_start = len(log_path.read_text())  # earlier tests here made errors on purpose (photos without a face)
    exported = base / "models" / "loras" / TRAINER_LORA
    for earlier in exported.parent.glob("*.safetensors"):  # the pre-installed one and earlier exports
        earlier.unlink()
    export = next(path for path in WORKFLOWS  # the plain file, or this release's variant of it
                  if path.stem.startswith("hyperlora_export_for_train_lora") and not for_this_release(path))
    result = run_prompt(base_url, runnable_prompt(load_workflow(export), object_info), log_path)
    assert result["status"]["status_str"] == "success", json.dumps(result["status"], indent=1)[:4000]
    written = [text for output in result["outputs"].values() for text in output.get("text", [])]
    assert [Path(p).resolve() for p in written] == [exported.resolve()], written

    refine = next(path for path in WORKFLOWS if path.stem.startswith(REFINE) and not for_this_release(path))
    prompt = runnable_prompt(load_workflow(refine), object_info)
    trainer = next(node for node in prompt.values() if node["class_type"] == "TrainLoraNode")
    assert trainer["inputs"]["existing_lora"] == TRAINER_LORA
    check_result(server, refine, prompt, run_prompt(base_url, prompt, log_path), tiny_unet, log_start)


def test_the_region_difference_benchmark_runs_on_the_shipped_models(server):
    """benchmarks/region_difference.py (one pass against exact, written for real weights) against this server,
    on the two-people workflow's model and photo names: three images come back, different from each other, and
    a likeness for each person and mode. The tiny models draw no faces: the plumbing is checked, not the figures."""
    import subprocess
    import sys

    base_url, _, log_path, base = server
    empty_caches(base_url)
    run = subprocess.run([sys.executable, str(PACK_ROOT / "benchmarks" / "region_difference.py"), "--server", base_url,
                          "--photos", "person_a.jpg", "person_b.jpg", "--size", str(RUN_SIZE), "--steps", "3",
                          "--timeout", str(RUN_TIMEOUT_S), "--json"], check=False, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr + log_path.read_text()[-4000:]
    figures = json.loads(run.stdout)
    assert figures["size"] == [RUN_SIZE, RUN_SIZE]
    assert 0 < figures["one_pass_vs_exact"]["mean"] <= figures["one_pass_vs_exact"]["max"] <= 255
    assert 0 < figures["exact_vs_plain"]["mean"] <= figures["exact_vs_plain"]["max"] <= 255
    assert set(figures["likeness"]) == {"A (left half)", "B (right half)"}
    for scores in figures["likeness"].values():
        assert set(scores) == {"exact", "one pass", "plain"} and all(-1 <= s <= 1 for s in scores.values())
    uploads = sorted(path.name for path in (base / "input").glob("hyperlora_region_*.png"))
    assert len(uploads) == 6, uploads  # each person's half of each of the three images, scored
