"""Model folders: registered like core folders (extra_model_paths.yaml works), lists show what is installed."""

import os

import pytest

from tests.comfy_standin import install, load_pack, models_root, node_classes  # noqa: F401
from tests.face_fixtures import tiny_clip_dir  # noqa: F401


@pytest.fixture
def env(monkeypatch, models_root):  # noqa: F811
    return install(monkeypatch, models_root)


def test_official_layout_is_registered_with_explicit_extensions(env, models_root):  # noqa: F811
    load_pack().nodes.folders.register_folders()
    folders = env.folder_paths.folder_names_and_paths
    models = models_root / "models"
    assert folders["hyper_lora"] == ([str(models / "hyper_lora" / "hyper_lora")], {".json", ".safetensors"})
    assert folders["hyper_lora_clip_vit"][0] == [str(models / "hyper_lora" / "clip_vit")]
    assert folders["hyper_lora_clip_processor"] == ([str(models / "hyper_lora" / "clip_processor")], {".json"})
    assert folders["insightface"] == ([str(models / "insightface")], {".onnx"})


def test_extra_model_paths_come_first_and_are_listed(env, tmp_path, models_root):  # noqa: F811
    from tests.synthetic_checkpoint import write_synthetic_checkpoint

    elsewhere = tmp_path / "shared_models" / "hyper_lora"
    write_synthetic_checkpoint(elsewhere / "my_variant", heads=12, dim_head=64, dim=32, depth=1)
    (elsewhere / "notes.txt").write_text("not a checkpoint")
    env.folder_paths.add_model_folder_path("hyper_lora", str(elsewhere))  # what extra_model_paths.yaml does
    folders = load_pack().nodes.folders
    folders.register_folders()
    assert env.folder_paths.get_folder_paths("hyper_lora")[0] == str(elsewhere)
    assert folders.list_checkpoints() == ["my_variant", "sdxl_tiny_fidelity", "sdxl_tiny_no_base"]
    assert folders.resolve_folder("hyper_lora", "my_variant", "x") == str(elsewhere / "my_variant")


def test_another_packs_insightface_folder_keeps_its_files(env, tmp_path):
    env.folder_paths.folder_names_and_paths["insightface"] = ([str(tmp_path)], {".bin"})
    load_pack().nodes.folders.register_folders()
    assert env.folder_paths.folder_names_and_paths["insightface"][1] == {".bin", ".onnx"}


def test_face_models_accept_the_nested_unzip_mistake(env, tmp_path):
    from tests.tiny_onnx import write_antelopev2

    other = tmp_path / "insightface"
    write_antelopev2(other / "models" / "antelopev2" / "antelopev2", with_unused=False)
    env.folder_paths.add_model_folder_path("insightface", str(other))
    folders = load_pack().nodes.folders
    folders.register_folders()
    assert folders.list_face_models() == ["antelopev2", "antelopev2/antelopev2"]


def test_resolve_refuses_missing_and_outside_folders(env):
    folders = load_pack().nodes.folders
    folders.register_folders()
    with pytest.raises(ValueError, match="was not found. Searched"):
        folders.resolve_folder("hyper_lora", "gone", "HyperLoRA checkpoint")
    with pytest.raises(ValueError, match="was not found"):
        folders.resolve_folder("hyper_lora", os.path.join("..", "clip_vit", "clip_vit_tiny"), "HyperLoRA checkpoint")


def test_face_model_is_listed_as_other_face_packs_name_it(env, models_root):  # noqa: F811
    """README layout insightface/models/antelopev2 -> 'antelopev2' (what the example workflows ask for)."""
    folders = load_pack().nodes.folders
    folders.register_folders()
    assert folders.list_face_models() == ["antelopev2"]
    expected = str(models_root / "models" / "insightface" / "models" / "antelopev2")
    assert folders.resolve_face_model("antelopev2") == expected
    assert folders.resolve_face_model("models/antelopev2") == expected  # the name listed before


def test_face_model_in_an_extra_path_to_insightface_models(env, tmp_path):
    """extra_model_paths.yaml pointing at .../insightface/models, or a pack folder straight under a root."""
    from tests.tiny_onnx import write_antelopev2

    write_antelopev2(tmp_path / "shared" / "insightface" / "models" / "antelopev2", with_unused=False)
    write_antelopev2(tmp_path / "other" / "buffalo_like", with_unused=False)
    env.folder_paths.add_model_folder_path("insightface", str(tmp_path / "shared" / "insightface" / "models"))
    env.folder_paths.add_model_folder_path("insightface", str(tmp_path / "other"))
    folders = load_pack().nodes.folders
    folders.register_folders()
    assert folders.list_face_models() == ["antelopev2", "buffalo_like"]
    assert folders.resolve_face_model("buffalo_like") == str(tmp_path / "other" / "buffalo_like")


def test_face_model_prefers_a_complete_folder(env, tmp_path, models_root):  # noqa: F811
    """An empty insightface/antelopev2 beside the README layout must not hide the real files."""
    (models_root / "models" / "insightface" / "antelopev2").mkdir(exist_ok=True)
    folders = load_pack().nodes.folders
    folders.register_folders()
    assert folders.resolve_face_model("antelopev2").endswith(os.path.join("models", "antelopev2"))


def test_the_loader_accepts_old_and_new_names_and_says_where_files_go(env):
    pack = load_pack()
    pack.nodes.folders.register_folders()
    loader = node_classes(pack)["HyperLoRAFaceAnalyzerLoader"]
    assert loader.validate_inputs(face_model="antelopev2") is True
    assert loader.validate_inputs(face_model="models/antelopev2") is True
    message = loader.validate_inputs(face_model="buffalo_l")
    assert "'buffalo_l' not in ['antelopev2']" in message
    assert "models/insightface/models/antelopev2" in message and "glintr100.onnx" in message
    with pytest.raises(ValueError, match="was not found"):
        pack.nodes.folders.resolve_face_model("../../hyper_lora")
