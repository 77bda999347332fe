"""Bad input gets a clear, actionable error (never a traceback from deep inside torch)."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

import hyperlora_core as hl
from tests.conftest import TINY_HEADS
from tests.synthetic_checkpoint import TINY_MODULES


@pytest.fixture
def ckpt(tiny_checkpoint, tmp_path):
    """A private copy we may damage."""
    return shutil.copytree(tiny_checkpoint, tmp_path / "variant")


def load(path, **kw):
    return hl.load_hyperlora(path, **TINY_HEADS, **kw)


def test_missing_folder_names_where_it_goes(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"models/hyper_lora/hyper_lora"):
        load(tmp_path / "nope")


@pytest.mark.parametrize("name", ["resampler.safetensors", "hyper_lora_modules.json", "id_projector.safetensors"])
def test_missing_file_is_named(ckpt, name):
    (ckpt / name).unlink()
    with pytest.raises(FileNotFoundError, match=name.replace(".", r"\.")) as err:
        load(ckpt)
    assert str(ckpt) in str(err.value) and "bytedance-research/HyperLoRA" in str(err.value)


def test_truncated_download_is_detected(ckpt):
    path = ckpt / "hyper_lora_modules.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ValueError, match=r"damaged or incomplete.*should be \d+ bytes long.*download it again"):
        load(ckpt)


def test_truncated_inside_header(ckpt):
    path = ckpt / "resampler.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="resampler.safetensors is damaged or incomplete"):
        load(ckpt)


def test_corrupt_header_json(ckpt):
    path = ckpt / "id_projector.safetensors"
    data = bytearray(path.read_bytes())
    data[10:20] = b"\xff" * 10
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="id_projector.safetensors is damaged"):
        load(ckpt)


def test_git_lfs_pointer(ckpt):
    (ckpt / "resampler.safetensors").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123456789\n")
    with pytest.raises(ValueError, match="Git LFS pointer"):
        load(ckpt)


def test_pickle_renamed_as_safetensors_is_refused(ckpt):
    import pickle

    (ckpt / "resampler.safetensors").write_bytes(pickle.dumps({"latents": [1, 2, 3]}, protocol=4))
    with pytest.raises(ValueError, match="unpickling can run arbitrary code"):
        load(ckpt)


@pytest.mark.parametrize("suffix", [".ckpt", ".bin"])
def test_pickle_checkpoint_is_refused_without_unpickling(tmp_path, suffix, monkeypatch):
    path = tmp_path / f"hyper_lora{suffix}"
    path.write_bytes(b"\x80\x04not really")
    monkeypatch.setattr("pickle.load", lambda *a, **k: pytest.fail("must never unpickle"))
    with pytest.raises(ValueError, match="only loads .safetensors"):
        load(path)


def test_pickle_files_in_folder_are_mentioned(ckpt):
    (ckpt / "hyper_lora_modules.safetensors").rename(ckpt / "hyper_lora_modules.bin")
    with pytest.raises(FileNotFoundError, match="hyper_lora_modules.bin.*safetensors only"):
        load(ckpt)


def test_json_with_fewer_modules_than_bases(ckpt):
    path = ckpt / "hyper_lora_modules.json"
    spec = json.loads(path.read_text())
    spec.pop(list(spec)[-1])
    path.write_text(json.dumps(spec))
    with pytest.raises(ValueError, match="holds more modules than the 5 listed"):
        load(ckpt)


def test_json_with_more_modules_than_bases(ckpt):
    path = ckpt / "hyper_lora_modules.json"
    spec = json.loads(path.read_text())
    spec["lora_unet_up_blocks_1_attentions_2_transformer_blocks_1_attn1"] = {"hidden_size": 16,
                                                                            "cross_attention_dim": None}
    path.write_text(json.dumps(spec))
    with pytest.raises(ValueError, match=r"has no tensor '6\.to_q\.id_down_basis'"):
        load(ckpt)


def test_json_in_wrong_order(ckpt):
    path = ckpt / "hyper_lora_modules.json"
    items = list(json.loads(path.read_text()).items())
    items[0], items[2] = items[2], items[0]  # hidden 16 <-> 32
    path.write_text(json.dumps(dict(items)))
    with pytest.raises(ValueError, match=r"Module 0 .* does not fit the bases.*order was changed"):
        load(ckpt)


def test_json_with_unknown_module_name(ckpt):
    path = ckpt / "hyper_lora_modules.json"
    spec = json.loads(path.read_text())
    spec = {("lora_te_text_model" if i == 0 else k): v for i, (k, v) in enumerate(spec.items())}
    path.write_text(json.dumps(spec))
    with pytest.raises(ValueError, match="'lora_te_text_model' is not a LoRA module name"):
        load(ckpt)


def test_invalid_json(ckpt):
    (ckpt / "hyper_lora_modules.json").write_text("{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        load(ckpt)


def test_missing_resampler_key(ckpt):
    path = ckpt / "resampler.safetensors"
    sd = load_file(str(path))
    del sd["layers.1.ff.net.2.weight"]
    save_file(sd, str(path))
    with pytest.raises(ValueError, match=r"has no tensor 'layers\.1\.ff\.net\.2\.weight'"):
        load(ckpt)


def test_resampler_from_another_checkpoint(ckpt):
    path = ckpt / "resampler.safetensors"
    sd = load_file(str(path))
    sd["latents"] = sd["latents"][:, :40]
    save_file(sd, str(path))
    with pytest.raises(ValueError, match="predicts 40 tokens.*need 48 tokens"):
        load(ckpt)


def test_wrong_heads_override(ckpt):
    with pytest.raises(ValueError, match="heads x dim_head = 12 x 64"):
        hl.load_hyperlora(ckpt, heads=12, dim_head=64)


def test_unknown_dtype(ckpt):
    with pytest.raises(ValueError, match="Use fp16, bf16 or fp32"):
        load(ckpt, dtype="int8")


@pytest.mark.parametrize("arcface_shape, clip_shape, match", [
    ((3, 256), (3, 257, 24), r"ArcFace embeddings must have shape \(B, 512\)"),
    ((512,), (3, 257, 24), r"ArcFace embeddings must have shape"),
    ((3, 512), (3, 257, 1280), r"CLIP tokens must have shape .* last size 24.*needs CLIP ViT-L/14"),
    ((3, 512), (2, 257, 24), r"3 ArcFace embeddings but 2 CLIP token sets"),
])
def test_conditioning_of_wrong_shape(tiny_checkpoint, arcface_shape, clip_shape, match):
    model = load(tiny_checkpoint)
    with pytest.raises(ValueError, match=match):
        model.predict_id_coefficients(torch.randn(*arcface_shape), torch.randn(*clip_shape))


def test_nan_conditioning(tiny_checkpoint):
    arcface = torch.full((1, 512), float("nan"))
    with pytest.raises(ValueError, match="NaN"):
        load(tiny_checkpoint).predict_id_coefficients(arcface, torch.randn(1, 257, 24))


def test_bad_fusion_weights(tiny_checkpoint, face_features):
    with pytest.raises(ValueError, match=r"one non-negative weight per reference image \(3\)"):
        load(tiny_checkpoint).predict_id_coefficients(*face_features, weights=[1.0, 2.0])


def test_coefficients_from_another_checkpoint(tiny_checkpoint):
    with pytest.raises(ValueError, match=r"Coefficients must have shape \(48, 8\)"):
        load(tiny_checkpoint).lora_factors(torch.randn(40, 8))


def test_no_base_lora(tiny_checkpoint_no_base, face_features):
    model = load(tiny_checkpoint_no_base)
    assert not model.has_base and model.config.base_rank is None
    with pytest.raises(ValueError, match="has no Base-LoRA .*Base strength to 0"):
        model.predict_base_coefficients(face_features[1])
    with pytest.raises(ValueError, match="has no Base-LoRA"):
        model.lora_factors(torch.randn(8 * len(TINY_MODULES), 8), kind="base")


def test_mix_rejects_mismatched_sets():
    with pytest.raises(ValueError, match="different HyperLoRA checkpoints"):
        hl.mix_coefficients([(torch.randn(16, 8), 1.0), (torch.randn(8, 8), 1.0)])
    with pytest.raises(ValueError, match="at least one must be above zero"):
        hl.mix_coefficients([(torch.randn(16, 8), 0.0)])
