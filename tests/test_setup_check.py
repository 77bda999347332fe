"""The setup report: every needed file, where a missing one goes, and damaged downloads."""

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from hyperlora_core.setup.check import (
    ANTELOPE_FILES,
    VARIANT_FILES,
    check_setup,
    describe_clip_vision,
    render_text,
)

VARIANT = "sdxl_hyper_id_lora_v1_fidelity"


def write_safetensors(path: Path, shapes: dict[str, tuple[int, ...]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({name: np.zeros(shape, dtype=np.float16) for name, shape in shapes.items()}, str(path))
    return path


def install_variant(models: Path, name: str = VARIANT, with_base: bool = False) -> Path:
    folder = models / "hyper_lora" / "hyper_lora" / name
    folder.mkdir(parents=True)
    module = "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1"
    (folder / "hyper_lora_modules.json").write_text(json.dumps({module: {"hidden_size": 8}}))
    names = ["hyper_lora_modules", "resampler", "id_projector"] + (["base_resampler"] if with_base else [])
    for stem in names:
        write_safetensors(folder / f"{stem}.safetensors", {"w": (4, 4)})
    return folder


def onnx_bytes(padding: int = 2048) -> bytes:
    """A small but complete ONNX model (one Identity node), padded over the placeholder size."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, doc_string="x" * padding)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def install_antelope(folder: Path, names=ANTELOPE_FILES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(onnx_bytes())
    return folder


def install_clip_folder(models: Path) -> Path:
    folder = models / "hyper_lora" / "clip_vit" / "clip_vit_large_14"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    write_safetensors(folder / "model.safetensors", {"w": (2,)})
    return folder


def clip_vision_file(path: Path, width: int, tokens: int = 257) -> Path:
    return write_safetensors(path, {
        "vision_model.embeddings.patch_embedding.weight": (width, 3, 14, 14),
        "vision_model.embeddings.position_embedding.weight": (tokens, 8),
        "text_model.embeddings.position_embedding.weight": (77, 8),
    })


def by_name(report, component):
    return {item.name: item for item in report.items if item.component == component}


def test_empty_models_folder_lists_every_required_file_with_its_folder(tmp_path):
    report = check_setup(tmp_path)

    assert not report.ok
    assert report.variants == []
    hyper = by_name(report, "hyper_lora")
    assert set(hyper) == set(VARIANT_FILES)
    assert {i.status for i in hyper.values()} == {"missing"}
    assert {i.folder for i in hyper.values()} == {str(tmp_path / "hyper_lora" / "hyper_lora" / VARIANT)}
    assert "bytedance-research/HyperLoRA" in hyper["resampler.safetensors"].hint

    face = by_name(report, "antelopev2")
    antelope = str(tmp_path / "insightface" / "models" / "antelopev2")
    assert all(face[n].status == "missing" and face[n].folder == antelope for n in ANTELOPE_FILES)
    assert face["genderage.onnx"].status == "optional-missing"
    assert face["1k3d68.onnx"].status == "optional-missing"

    clip = by_name(report, "clip")
    assert list(clip) == ["clip_vit_large_14.safetensors"]  # one thing to do: the file the workflows load
    assert clip["clip_vit_large_14.safetensors"].status == "missing"
    assert clip["clip_vit_large_14.safetensors"].folder == str(tmp_path / "clip_vision")
    assert "openai/clip-vit-large-patch14" in clip["clip_vit_large_14.safetensors"].hint


def test_complete_official_layout_is_ok(tmp_path):
    install_variant(tmp_path)
    install_variant(tmp_path, "sdxl_hyper_id_lora_v1_edit", with_base=True)
    install_antelope(tmp_path / "insightface" / "models" / "antelopev2")
    install_clip_folder(tmp_path)

    report = check_setup(tmp_path)

    assert report.ok, render_text(report)
    assert report.variants == ["sdxl_hyper_id_lora_v1_edit", VARIANT]
    base = [i for i in report.items if i.name == "base_resampler.safetensors"]
    assert {i.variant: i.status for i in base} == {VARIANT: "optional-missing",
                                                   "sdxl_hyper_id_lora_v1_edit": "found"}
    assert "clip_vit_large_14" in report.clip
    text = render_text(report)
    assert "All required files are installed" in text
    assert json.loads(json.dumps(report.to_json()))["ok"] is True


def test_clip_folder_from_extra_clip_vit_dir_with_any_name(tmp_path):
    folder = tmp_path / "elsewhere" / "my_clip"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    write_safetensors(folder / "model.safetensors", {"w": (2,)})

    report = check_setup(tmp_path / "models", clip_vit_dirs=[tmp_path / "elsewhere"])

    assert str(folder) in report.clip
    assert {i.status for i in report.items if i.component == "clip"} == {"found"}


def test_variant_inside_a_wrapper_folder_is_found_and_empty_folders_are_reported(tmp_path):
    install_variant(tmp_path, "HyperLoRA/sdxl_hyper_id_lora_v1_edit")
    (tmp_path / "hyper_lora" / "hyper_lora" / "unfinished").mkdir()

    report = check_setup(tmp_path)

    assert report.variants == ["HyperLoRA/sdxl_hyper_id_lora_v1_edit"]
    unfinished = [i for i in report.items if i.variant == "unfinished"]
    assert {i.name for i in unfinished if i.status == "missing"} == set(VARIANT_FILES)


def test_truncated_safetensors_is_reported_as_damaged(tmp_path):
    folder = install_variant(tmp_path)
    resampler = folder / "resampler.safetensors"
    resampler.write_bytes(resampler.read_bytes()[:-3])
    install_antelope(tmp_path / "insightface" / "models" / "antelopev2")
    install_clip_folder(tmp_path)

    report = check_setup(tmp_path)

    item = by_name(report, "hyper_lora")["resampler.safetensors"]
    assert item.status == "damaged"
    assert "bytes long" in item.hint and str(resampler) in item.hint
    assert not report.ok and report.variants == []
    assert "DAMAGED" in render_text(report)


def test_lfs_pointer_onnx_is_damaged(tmp_path):
    folder = install_antelope(tmp_path / "insightface" / "models" / "antelopev2")
    (folder / "glintr100.onnx").write_text("version https://git-lfs.github.com/spec/v1\n")

    item = by_name(check_setup(tmp_path), "antelopev2")["glintr100.onnx"]

    assert item.status == "damaged" and "placeholder" in item.hint


def test_unused_antelopev2_files_are_not_inspected(tmp_path):
    folder = install_antelope(tmp_path / "insightface" / "models" / "antelopev2")
    (folder / "genderage.onnx").write_text("never opened by HyperLoRA")

    item = by_name(check_setup(tmp_path), "antelopev2")["genderage.onnx"]

    assert item.status == "found"


def test_nested_antelopev2_folder_is_accepted_with_a_note(tmp_path):
    nested = install_antelope(tmp_path / "insightface" / "models" / "antelopev2" / "antelopev2")

    face = by_name(check_setup(tmp_path), "antelopev2")

    assert all(face[n].status == "found" and face[n].folder == str(nested) for n in ANTELOPE_FILES)
    assert "nested" in face["glintr100.onnx"].hint


def test_partial_antelopev2_names_the_missing_file(tmp_path):
    install_antelope(tmp_path / "insightface" / "models" / "antelopev2", names=ANTELOPE_FILES[:2])

    face = by_name(check_setup(tmp_path), "antelopev2")

    assert face["glintr100.onnx"].status == "missing"
    assert face["scrfd_10g_bnkps.onnx"].status == "found"


def test_extra_folders_from_comfyui_are_searched(tmp_path):
    models, elsewhere = tmp_path / "models", tmp_path / "shared_models"
    install_variant(elsewhere)
    install_antelope(elsewhere / "faces" / "models" / "antelopev2")
    clip_vision_file(elsewhere / "vision" / "CLIP-ViT-L-14.safetensors", 1024)

    report = check_setup(models, variant_dirs=[elsewhere / "hyper_lora" / "hyper_lora"],
                         insightface_dirs=[elsewhere / "faces"], clip_vision_dirs=[elsewhere / "vision"])

    assert report.ok, render_text(report)
    assert report.variants == [VARIANT]
    assert "CLIP-ViT-L-14.safetensors" in report.clip


def test_clip_vision_files_are_classified_from_their_header(tmp_path):
    vision = tmp_path / "clip_vision"
    assert describe_clip_vision(clip_vision_file(vision / "a.safetensors", 1024)) == ("ViT-L/14", None)
    assert describe_clip_vision(clip_vision_file(vision / "b.safetensors", 1280)) == ("ViT-H/14", None)
    assert describe_clip_vision(clip_vision_file(vision / "c.safetensors", 1024, 577)) == (
        "ViT-L/14 (336 px)", None)


def test_only_a_wrong_clip_vision_model_still_reports_clip_missing(tmp_path):
    clip_vision_file(tmp_path / "clip_vision" / "CLIP-ViT-H-14.safetensors", 1280)

    report = check_setup(tmp_path)
    clip = by_name(report, "clip")

    assert clip["CLIP-ViT-H-14.safetensors"].status == "found"
    assert "will not work" in clip["CLIP-ViT-H-14.safetensors"].hint
    assert clip["clip_vit_large_14.safetensors"].status == "missing"
    assert report.clip is None


def test_damaged_clip_vision_file_is_flagged(tmp_path):
    path = clip_vision_file(tmp_path / "clip_vision" / "vit_l.safetensors", 1024)
    path.write_bytes(path.read_bytes()[:100])

    clip = by_name(check_setup(tmp_path), "clip")

    assert clip["vit_l.safetensors"].status == "damaged"


def test_the_clip_file_the_workflows_load_is_the_one_check_and_readme_name(tmp_path):
    """One story: every example workflow's Load CLIP Vision loads clip_vision/<WORKFLOW_CLIP_FILE>; check
    asks for that file, accepts it there, and nudges another ViT-L/14 file's name towards it."""
    from hyperlora_core.setup.check import WORKFLOW_CLIP_FILE

    root = Path(__file__).resolve().parents[1]
    loaded = set()
    for path in (root / "example_workflows").glob("*.json"):
        for node in json.loads(path.read_text()).get("nodes", []):
            if node.get("type") == "CLIPVisionLoader":
                loaded.add(node["widgets_values"][0])
    assert loaded == {WORKFLOW_CLIP_FILE}
    readme = (root / "README.md").read_text()
    assert f"`clip_vision/{WORKFLOW_CLIP_FILE}`" in readme

    clip_vision_file(tmp_path / "clip_vision" / WORKFLOW_CLIP_FILE, 1024)
    report = check_setup(tmp_path)
    assert report.clip.startswith(f"{WORKFLOW_CLIP_FILE} in {tmp_path / 'clip_vision'}")
    assert "rename" not in by_name(report, "clip")[WORKFLOW_CLIP_FILE].hint
    other = tmp_path / "other"
    clip_vision_file(other / "clip_vision" / "ViT-L-14.safetensors", 1024)
    assert f"load {WORKFLOW_CLIP_FILE}: rename" in by_name(check_setup(other), "clip")["ViT-L-14.safetensors"].hint
