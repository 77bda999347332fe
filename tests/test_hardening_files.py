"""Malformed files get a ValueError naming the file and the fix, at every level a user meets them:
the engine (load_hyperlora), the setup report (CLI `check`, GET /hyperlora/setup) and make-lora.
One bad file never breaks the report: it is flagged, every other file is reported normally."""

import json
import shutil
import struct

import numpy as np
import pytest
import torch
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

import hyperlora_core as hl
from hyperlora_core.cli import main
from hyperlora_core.engine.safetensors_io import SafetensorsFile
from hyperlora_core.setup.check import check_setup
from hyperlora_core.setup.onnx_check import onnx_problem
from hyperlora_core.validate import load_json_file
from tests.comfy_standin import comfy, models_root  # noqa: F401
from tests.conftest import TINY_HEADS
from tests.face_fixtures import tiny_clip_dir  # noqa: F401
from tests.test_setup_check import (
    by_name,
    clip_vision_file,
    install_antelope,
    install_clip_folder,
    install_variant,
    onnx_bytes,
)

DEEP_JSON = "[" * 100_000 + "]" * 100_000  # json.loads alone raises RecursionError on this


def raw_safetensors(path, header: dict, data: bytes) -> None:
    """A safetensors file with exactly this header (no check of ours or the library's in between)."""
    encoded = json.dumps(header).replace("Infinity", "1e400").encode()  # as a hostile file would spell it
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + data)


def library_refuses(path) -> bool:
    try:
        with safe_open(str(path), "pt") as f:
            for key in f.keys():  # noqa: SIM118 (not a dict)
                f.get_tensor(key)
    except (SafetensorError, ValueError, TypeError):
        return True
    return False


@pytest.fixture
def ckpt(tiny_checkpoint, tmp_path):
    return shutil.copytree(tiny_checkpoint, tmp_path / "variant")


def load(path):
    return hl.load_hyperlora(path, **TINY_HEADS)


def rewrite_header(path, change) -> None:
    """Apply `change` to the parsed header of a real file and write it back with the same data."""
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    change(header)
    raw_safetensors(path, header, data[8 + length:])


def first_tensor(header) -> dict:
    return next(info for key, info in header.items() if key != "__metadata__")


# ---------------------------------------------------------------- safetensors headers (engine)


def test_overlapping_offsets_are_refused_like_the_safetensors_library_does(tmp_path):
    path = tmp_path / "overlap.safetensors"
    raw_safetensors(path, {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                           "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
                           "c": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]}}, bytes(16))
    assert library_refuses(path)
    with pytest.raises(ValueError, match=r"overlap\.safetensors is damaged.*'b' overlaps another tensor.*download"):
        SafetensorsFile(path)


def test_one_tensor_pointing_at_anothers_bytes_is_refused_at_load(ckpt):
    def alias(header):
        keys = [k for k in header if k != "__metadata__"]
        header[keys[1]]["data_offsets"] = list(header[keys[0]]["data_offsets"])  # same shape in the release
        header[keys[1]]["shape"] = list(header[keys[0]]["shape"])
        header[keys[1]]["dtype"] = header[keys[0]]["dtype"]

    rewrite_header(ckpt / "resampler.safetensors", alias)
    with pytest.raises(ValueError, match=r"resampler\.safetensors is damaged or incomplete: .*(overlaps|gap)"):
        load(ckpt)


def test_a_gap_between_tensors_is_refused(tmp_path):
    path = tmp_path / "gap.safetensors"
    raw_safetensors(path, {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                           "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}, bytes(12))
    assert library_refuses(path)
    with pytest.raises(ValueError, match=r"gap\.safetensors is damaged.*'b' leaves a gap"):
        SafetensorsFile(path)


def test_an_unsupported_dtype_is_named_and_not_called_damaged(ckpt):
    rewrite_header(ckpt / "hyper_lora_modules.safetensors",
                   lambda h: first_tensor(h).update(dtype="F8_E4M3", shape=first_tensor(h)["shape"][:-1] + [
                       first_tensor(h)["shape"][-1] * 2]))
    with pytest.raises(ValueError) as error:
        load(ckpt)
    message = str(error.value)
    assert "hyper_lora_modules.safetensors" in message and "F8_E4M3" in message
    assert "download the original fp16" in message and "damaged" not in message


def test_an_unknown_dtype_is_damaged(tmp_path):
    path = tmp_path / "odd.safetensors"
    raw_safetensors(path, {"a": {"dtype": "Q4_K", "shape": [1], "data_offsets": [0, 4]}}, bytes(4))
    with pytest.raises(ValueError, match=r"odd\.safetensors is damaged.*unknown dtype 'Q4_K'"):
        SafetensorsFile(path)


def test_integer_bases_are_refused_instead_of_giving_a_garbage_lora(ckpt):
    path = ckpt / "hyper_lora_modules.safetensors"
    tensors = {}
    with safe_open(str(path), "np") as f:
        for key in f.keys():  # noqa: SIM118
            tensors[key] = (f.get_tensor(key) * 100).astype(np.int16)  # same byte size as fp16
    save_file(tensors, str(path))
    with pytest.raises(ValueError, match=r"hyper_lora_modules\.safetensors: tensor .* is stored as I16 \(integers\)"):
        load(ckpt)


@pytest.mark.parametrize("shape", [[1e400], [2.5], [-1], [True], "4", [[4]]])
def test_shapes_that_are_not_whole_numbers_are_damaged_not_a_crash(tmp_path, shape):
    path = tmp_path / "shape.safetensors"
    header = json.dumps({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})
    header = header.replace("[4]", json.dumps(shape).replace("Infinity", "1e400"))
    path.write_bytes(struct.pack("<Q", len(header)) + header.encode() + bytes(16))
    with pytest.raises(ValueError, match=r"shape\.safetensors is damaged.*not whole numbers"):
        SafetensorsFile(path)


def test_offsets_that_overflow_are_damaged(tmp_path):
    path = tmp_path / "offsets.safetensors"
    header = '{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 1e400]}}'
    path.write_bytes(struct.pack("<Q", len(header)) + header.encode() + bytes(16))
    with pytest.raises(ValueError, match=r"offsets\.safetensors is damaged"):
        SafetensorsFile(path)


def test_a_header_nested_too_deeply_names_the_file(tmp_path):
    path = tmp_path / "deep.safetensors"
    header = DEEP_JSON.encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    with pytest.raises(ValueError, match=r"deep\.safetensors is damaged or incomplete: its header .*nest"):
        SafetensorsFile(path)


def test_a_huge_header_length_says_it_may_be_a_pickle(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"\x00\x00\x00\x00\x00\x10\x00\x00" + b"x" * 2000)  # neither a zip nor a pickle opcode
    with pytest.raises(ValueError, match=r"model\.safetensors is damaged or incomplete, or not a safetensors file "
                                         r"at all \(for example a pickle"):
        SafetensorsFile(path)


# ---------------------------------------------------------------- JSON files (engine)


def test_modules_json_nested_too_deeply_names_the_file(ckpt):
    (ckpt / "hyper_lora_modules.json").write_text(DEEP_JSON)
    with pytest.raises(ValueError, match=r"hyper_lora_modules\.json is not a usable JSON file: .*nest.*Download"):
        load(ckpt)


@pytest.mark.parametrize("value", ["1e400", "NaN", "2.5", "true", "-8", '"8"'])
def test_modules_json_numbers_must_be_whole_and_positive(ckpt, value):
    path = ckpt / "hyper_lora_modules.json"
    spec = json.loads(path.read_text())
    first = next(iter(spec))
    text = json.dumps(spec).replace(json.dumps({first: spec[first]})[1:-1],
                                    f'"{first}": {{"hidden_size": {value}, "cross_attention_dim": null}}', 1)
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"hyper_lora_modules\.json: entry '{first}' needs 'hidden_size'"):
        load(ckpt)


def test_an_oversized_json_is_refused_before_reading(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"a": "x" * 100}))
    with pytest.raises(ValueError, match=r"config\.json is \d+ bytes, far too large"):
        load_json_file(path, max_bytes=50)


# ---------------------------------------------------------------- ONNX framing


def test_onnx_check_accepts_a_model_and_refuses_a_truncated_one(tmp_path):
    path = tmp_path / "glintr100.onnx"
    data = onnx_bytes()
    path.write_bytes(data)
    assert onnx_problem(path) is None
    path.write_bytes(data[:-10])
    assert "glintr100.onnx is not a complete ONNX model" in onnx_problem(path)
    path.write_bytes(b"<html>" + b"x" * 2000)
    assert "not a complete ONNX model" in onnx_problem(path)


# ---------------------------------------------------------------- the setup report


def complete_models(root):
    install_variant(root)
    install_antelope(root / "insightface" / "models" / "antelopev2")
    install_clip_folder(root)
    return root


def statuses(report):
    return {(item.component, item.variant, item.name): item.status for item in report.items}


@pytest.mark.parametrize("damage", ["overlap", "integer", "shape_1e400", "deep_json", "onnx_truncated",
                                    "modules_json_1e400", "config_deep"])
def test_one_bad_file_is_damaged_and_every_other_file_is_reported_normally(tmp_path, damage):
    models = complete_models(tmp_path)
    good = statuses(check_setup(models))
    assert set(good.values()) <= {"found", "optional-missing"}
    variant = models / "hyper_lora" / "hyper_lora" / "sdxl_hyper_id_lora_v1_fidelity"
    bad = {
        "overlap": variant / "resampler.safetensors",
        "integer": variant / "hyper_lora_modules.safetensors",
        "shape_1e400": variant / "id_projector.safetensors",
        "deep_json": variant / "hyper_lora_modules.json",
        "onnx_truncated": models / "insightface" / "models" / "antelopev2" / "glintr100.onnx",
        "modules_json_1e400": variant / "hyper_lora_modules.json",
        "config_deep": models / "hyper_lora" / "clip_vit" / "clip_vit_large_14" / "config.json",
    }[damage]
    if damage == "overlap":
        raw_safetensors(bad, {"a": {"dtype": "F16", "shape": [4], "data_offsets": [0, 8]},
                              "b": {"dtype": "F16", "shape": [4], "data_offsets": [0, 8]}}, bytes(8))
    elif damage == "integer":
        save_file({"w": np.zeros((4, 4), np.int8)}, str(bad))
    elif damage == "shape_1e400":
        header = '{"w": {"dtype": "F16", "shape": [1e400], "data_offsets": [0, 2]}}'
        bad.write_bytes(struct.pack("<Q", len(header)) + header.encode() + bytes(2))
    elif damage == "deep_json" or damage == "config_deep":
        bad.write_text(DEEP_JSON)
    elif damage == "onnx_truncated":
        bad.write_bytes(onnx_bytes(4096)[:3000])
    else:
        bad.write_text('{"lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1": {"hidden_size": 1e400}}')

    report = check_setup(models)

    after = statuses(report)
    flagged = [key for key, status in after.items() if status == "damaged"]
    assert [key[2] for key in flagged] == [bad.name]
    assert {key: status for key, status in after.items() if key not in flagged} == {
        key: status for key, status in good.items() if key not in flagged}
    item = next(item for item in report.items if item.status == "damaged")
    assert str(bad) in item.hint and "download" in item.hint.lower()


def test_check_command_reports_a_bad_file_without_a_traceback(tmp_path, capsys):
    models = complete_models(tmp_path)
    variant = models / "hyper_lora" / "hyper_lora" / "sdxl_hyper_id_lora_v1_fidelity"
    (variant / "hyper_lora_modules.json").write_text(DEEP_JSON)

    assert main(["check", "--models", str(models)]) == 1

    out = capsys.readouterr().out
    assert "[ DAMAGED] hyper_lora_modules.json" in out and "nest far too deeply" in out
    assert "[      ok] resampler.safetensors" in out and "[      ok] glintr100.onnx" in out
    assert "Traceback" not in out


def test_setup_route_answers_200_with_a_hostile_file_and_reports_the_rest(tmp_path, monkeypatch):
    """GET /hyperlora/setup through aiohttp, as the web extension calls it."""
    import sys

    from tests.test_setup_route import call_route, fake_folder_paths, pack_module, stand_in_server

    models = complete_models(tmp_path)
    header = '{"vision_model.embeddings.patch_embedding.weight": {"dtype": "F16", "shape": [1e400, 3, 14, 14], ' \
             '"data_offsets": [0, 2]}}'
    (models / "clip_vision").mkdir()
    (models / "clip_vision" / "hostile.safetensors").write_bytes(
        struct.pack("<Q", len(header)) + header.encode() + bytes(2))
    clip_vision_file(models / "clip_vision" / "vit_l.safetensors", 1024)
    routes = stand_in_server(monkeypatch)
    monkeypatch.setitem(sys.modules, "folder_paths", fake_folder_paths(models, {}))
    assert pack_module("nodes.setup_route").register_routes() is True

    # the CLIP folder wins over clip_vision files; take it away so the clip_vision files are examined
    shutil.rmtree(models / "hyper_lora" / "clip_vit")
    status, report = call_route(routes, "GET", "/hyperlora/setup")

    assert status == 200
    items = {item["name"]: item for item in report["items"]}
    assert items["hostile.safetensors"]["status"] == "damaged"
    assert "hostile.safetensors is damaged" in items["hostile.safetensors"]["hint"]
    assert items["vit_l.safetensors"]["status"] == "found"
    assert report["variants"] == ["sdxl_hyper_id_lora_v1_fidelity"] and report["ok"] is False


def test_hidden_bad_module_names_do_not_stop_the_route_either(tmp_path):
    """A file whose check raises something unexpected is still reported as that file's problem."""
    from hyperlora_core.setup import check as setup_check

    models = complete_models(tmp_path)
    original = setup_check.onnx_problem

    def explode(path):
        if path.name == "glintr100.onnx":
            raise MemoryError("simulated")
        return original(path)

    setup_check.onnx_problem = explode
    try:
        report = check_setup(models)
    finally:
        setup_check.onnx_problem = original
    face = by_name(report, "antelopev2")
    assert face["glintr100.onnx"].status == "damaged" and "MemoryError" in face["glintr100.onnx"].hint
    assert face["scrfd_10g_bnkps.onnx"].status == "found"


# ---------------------------------------------------------------- make-lora with bad files


def test_make_lora_names_a_pickle_saved_as_the_clip_model(tmp_path, capsys):
    import pickle

    from tests.synthetic_checkpoint import write_synthetic_checkpoint
    from tests.tiny_onnx import write_antelopev2

    models = tmp_path / "models"
    write_synthetic_checkpoint(models / "hyper_lora" / "hyper_lora" / "v", dim=32, depth=1, clip_dim=32,
                               heads=12, dim_head=64, dtype=torch.float32)
    write_antelopev2(models / "insightface" / "models" / "antelopev2")
    clip = models / "hyper_lora" / "clip_vit" / "clip_vit_large_14"
    clip.mkdir(parents=True)
    (clip / "config.json").write_text("{}")
    (clip / "model.safetensors").write_bytes(pickle.dumps({"weights": list(range(1000))}, protocol=2))
    photo = tmp_path / "me.png"
    from PIL import Image

    Image.new("RGB", (64, 64)).save(photo)
    out = tmp_path / "me.safetensors"

    code = main(["make-lora", "--face", str(photo), "--models", str(models), "--out", str(out), "--device", "cpu"])

    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert f"error: {clip / 'model.safetensors'} is a pickle/zip archive with a .safetensors name" in err
    assert not out.exists()


def test_make_lora_names_the_file_with_an_overflowing_shape(tmp_path, capsys):
    from tests.synthetic_checkpoint import write_synthetic_checkpoint

    models = tmp_path / "models"
    variant = models / "hyper_lora" / "hyper_lora" / "v"
    write_synthetic_checkpoint(variant, dim=32, depth=1, clip_dim=32, heads=12, dim_head=64, dtype=torch.float32)
    rewrite_header(variant / "id_projector.safetensors", lambda h: first_tensor(h).update(shape=[float("inf")]))
    photo = tmp_path / "me.png"
    from PIL import Image

    Image.new("RGB", (64, 64)).save(photo)
    out = tmp_path / "me.safetensors"

    code = main(["make-lora", "--face", str(photo), "--models", str(models), "--out", str(out), "--device", "cpu"])

    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and "OverflowError" not in err
    assert f"error: {variant / 'id_projector.safetensors'} is damaged or incomplete" in err
    assert not out.exists()


def test_clip_vision_loader_node_names_a_pickle_saved_as_model_safetensors(comfy, models_root):  # noqa: F811
    import pickle

    folder = models_root / "models" / "hyper_lora" / "clip_vit" / "pickled_h10"
    folder.mkdir()
    try:
        (folder / "config.json").write_text("{}")
        (folder / "model.safetensors").write_bytes(pickle.dumps({"w": list(range(500))}, protocol=4))
        with pytest.raises(ValueError, match=r"pickled_h10/model\.safetensors is a pickle/zip archive"):
            comfy.node("HyperLoRACLIPVisionLoader").load("pickled_h10")
    finally:
        shutil.rmtree(folder)
