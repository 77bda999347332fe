"""Paths, folders and photos from careless or hostile users: save prefixes, symlink loops in model
folders, rotated phone photos, decompression bombs, huge inputs; and CLI messages that name CLI flags."""

import os
import time

import numpy as np
import pytest
import torch
from PIL import Image

from hyperlora_core.cli import main
from hyperlora_core.face import DetectedFace
from hyperlora_core.face.preview import CHOSEN_COLOUR, DETECTION_PREVIEW_SIDE
from tests.comfy_standin import comfy, install, load_pack, models_root  # noqa: F401
from tests.face_fixtures import GREY, paint_marker, tiny_clip_dir  # noqa: F401
from tests.test_cli import make_args, models, photo_files, read_lora  # noqa: F401
from tests.test_nodes_export import coefficients, export  # noqa: F401


def output_file(*args, **kwargs):
    return load_pack().nodes.save.output_file(*args, **kwargs)


# ---------------------------------------------------------------- Export LoRA's filename_prefix


@pytest.mark.parametrize("prefix, expected", [
    ("loras/", ("loras", "hyperlora_00001_.safetensors")),
    ("loras/faces/", ("loras/faces", "hyperlora_00001_.safetensors")),
    (".", ("", "hyperlora_00001_.safetensors")),
    ("./", ("", "hyperlora_00001_.safetensors")),
    ("", ("", "hyperlora_00001_.safetensors")),
    ("  ", ("", "hyperlora_00001_.safetensors")),
    ("loras/./me", ("loras", "me_00001_.safetensors")),
    ("a/../me", ("", "me_00001_.safetensors")),
])
def test_prefix_folders_work_like_comfyuis_save_nodes(tmp_path, prefix, expected):
    path = output_file(str(tmp_path), prefix)
    folder, name = expected
    assert path == os.path.join(os.path.realpath(tmp_path), folder, name) if folder else \
        path == os.path.join(os.path.realpath(tmp_path), name)
    assert os.path.isdir(os.path.dirname(path))


def test_prefix_numbering_continues_in_a_folder(tmp_path):
    first = output_file(str(tmp_path), "loras/")
    open(first, "wb").close()
    assert output_file(str(tmp_path), "loras/").endswith("hyperlora_00002_.safetensors")


@pytest.mark.parametrize("prefix", ["me\x00.safetensors", "me\nyou", "loras/me\r", "tab\there", "del\x7f"])
def test_control_characters_in_the_prefix_are_refused_and_nothing_is_created(comfy, coefficients, prefix):  # noqa: F811
    with pytest.raises(ValueError, match=r"^The filename_prefix .* contains a control character .*'loras/my_face'"):
        export(comfy, coefficients, prefix=prefix)
    output = comfy.folder_paths.output_directory
    assert not os.path.exists(output) or os.listdir(output) == []


def test_a_prefix_too_long_for_the_file_system_is_refused_clearly(tmp_path):
    with pytest.raises(ValueError, match=r"file name of 26\d bytes, more than the 255 a file system allows"):
        output_file(str(tmp_path), "x" * 250)
    assert os.listdir(tmp_path) == []
    assert len(os.path.basename(output_file(str(tmp_path), "x" * 236))) == 255  # the longest that fits


def test_a_file_where_a_folder_is_needed_is_refused(tmp_path):
    (tmp_path / "loras").write_text("a file")
    with pytest.raises(ValueError, match="uses .*loras as a folder, but it is a file"):
        output_file(str(tmp_path), "loras/me")


def test_a_symlink_out_of_the_output_folder_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    output = tmp_path / "output"
    output.mkdir()
    (output / "escape").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError, match="points outside"):
        output_file(str(output), "escape/me")
    with pytest.raises(ValueError, match="points outside"):
        output_file(str(output), "escape/")


def test_other_roots_and_extensions_for_other_writers(tmp_path):
    """The signature other writers (e.g. into models/loras) reuse: their folder named in the message."""
    assert output_file(str(tmp_path), "me", default_name="x", extension=".json").endswith("me_00001_.json")
    with pytest.raises(ValueError, match=r"points outside ComfyUI's loras folder"):
        output_file(str(tmp_path), "../me", folder_label="ComfyUI's loras folder")


# ---------------------------------------------------------------- model folders with symlink loops


def test_self_referencing_symlinks_do_not_hang_the_lists(monkeypatch, models_root):  # noqa: F811
    install(monkeypatch, models_root)
    variants = models_root / "models" / "hyper_lora" / "hyper_lora"
    faces = models_root / "models" / "insightface"
    for folder in (variants, faces, faces / "models"):
        (folder / "loop_a").symlink_to(".", target_is_directory=True)
        (folder / "loop_b").symlink_to(".", target_is_directory=True)
    elsewhere = models_root.parent / "linked_variant_source"
    if not elsewhere.exists():
        import shutil

        shutil.copytree(variants / "sdxl_tiny_fidelity", elsewhere)
    (variants / "linked").symlink_to(elsewhere, target_is_directory=True)
    try:
        folders = load_pack().nodes.folders
        folders.register_folders()
        started = time.monotonic()
        checkpoints = folders.list_checkpoints()
        face_models = folders.list_face_models()
        elapsed = time.monotonic() - started
    finally:
        for folder in (variants, faces, faces / "models"):
            for name in ("loop_a", "loop_b"):
                (folder / name).unlink()
        (variants / "linked").unlink()
    assert elapsed < 2, elapsed
    assert checkpoints == ["linked", "sdxl_tiny_fidelity", "sdxl_tiny_no_base"]  # a linked folder still counts
    assert face_models == ["antelopev2"]


def test_the_walk_gives_up_after_its_time_and_depth_budget(tmp_path):
    folders = load_pack().nodes.folders
    deep = tmp_path
    for level in range(12):
        deep = deep / f"d{level}"
    deep.mkdir(parents=True)
    (deep / "hyper_lora_modules.json").write_text("{}")
    assert all(folder.count("/") < folders.MAX_DEPTH for folder, _ in folders.walk_folders(str(tmp_path)))
    assert list(folders.walk_folders(str(tmp_path), max_seconds=-1)) == [("", set())]  # stops after one folder


# ---------------------------------------------------------------- the CLI and photos


def rotated_copy(source, target, orientation: int):
    """The photo stored sideways with the EXIF orientation that turns it upright (as phones save them)."""
    upright = Image.open(source).convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90 if orientation == 6 else Image.Transpose.ROTATE_270)
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.save(target, exif=exif.tobytes())
    return str(target)


@pytest.mark.parametrize("orientation", [6, 8])
def test_cli_turns_phone_photos_upright_like_load_image(models, photo_files, tmp_path, orientation):  # noqa: F811
    rotated = [rotated_copy(p, tmp_path / f"rot{i}.png", orientation) for i, p in enumerate(photo_files)]
    upright_out, rotated_out = tmp_path / "upright.safetensors", tmp_path / "rotated.safetensors"

    assert main(make_args(models, photo_files, upright_out, "--precision", "fp32")) == 0
    assert main(make_args(models, rotated, rotated_out, "--precision", "fp32")) == 0

    upright, _ = read_lora(upright_out)
    turned, _ = read_lora(rotated_out)
    for key, value in upright.items():
        torch.testing.assert_close(turned[key], value)


def test_cli_names_a_decompression_bomb(models, photo_files, tmp_path, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # the 640 x 480 photo is now far over the limit
    out = tmp_path / "me.safetensors"
    assert main(make_args(models, photo_files[:1], out)) == 1
    err = capsys.readouterr().err
    assert f"error: The photo {photo_files[0]} has too many pixels" in err and "Scale it down" in err
    assert "Traceback" not in err and not out.exists()


def test_cli_no_face_message_names_cli_flags_only(models, tmp_path, capsys):  # noqa: F811
    blank = tmp_path / "blank.png"
    Image.new("RGB", (640, 480), GREY).save(blank)
    assert main(make_args(models, [str(blank)], tmp_path / "me.safetensors")) == 1
    err = capsys.readouterr().err
    assert "No face found in image 1 of 1" in err and "add --skip-missing" in err
    assert "Encode Face" not in err and "skip_images_without_face" not in err


def test_cli_face_index_message_has_no_preview_to_point_at(models, photo_files, tmp_path, capsys):  # noqa: F811
    assert main(make_args(models, photo_files[:1], tmp_path / "me.safetensors", "--face-index", "3")) == 1
    err = capsys.readouterr().err
    assert "Face index 3 does not exist in image 1 of 1" in err and "numbered from the left" in err
    assert "preview" not in err


def test_cli_writes_a_name_at_the_file_system_limit(models, photo_files, tmp_path):  # noqa: F811
    out = tmp_path / ("n" * (255 - len(".safetensors")) + ".safetensors")
    assert main(make_args(models, photo_files[:1], out)) == 0
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


# ---------------------------------------------------------------- previews at preview size


def test_detection_previews_are_kept_at_preview_size(comfy):  # noqa: F811
    encode = comfy.pack.nodes.encode
    big = paint_marker(Image.new("RGB", (3000, 2000), GREY), (1500, 600, 1800, 900))
    face = DetectedFace(bbox=np.array([1500.0, 600.0, 1800.0, 900.0]), score=0.9,
                        kps=np.array([[1600.0, 700.0]] * 5), landmarks=np.zeros((106, 2)), index=0)
    conditioning = type("C", (), {"all_faces": [[face]], "detections": [face], "kept": [1]})()

    previews = encode.detection_previews([big, big], conditioning)

    assert [p.size for p in previews] == [(DETECTION_PREVIEW_SIDE, 683)] * 2
    drawn = np.asarray(previews[1])
    scale = DETECTION_PREVIEW_SIDE / 3000
    x1, y_mid = round(1500 * scale), round(750 * scale)
    assert (drawn[y_mid, x1 - 1:x1 + 2] == CHOSEN_COLOUR).all(axis=-1).any()  # the box, scaled with the image
    boxes = encode.face_boxes([big, big], conditioning)  # clicks still map to original pixels
    assert boxes[1]["width"] == 3000 and boxes[1]["boxes"] == [[1500.0, 600.0, 1800.0, 900.0]]


@pytest.mark.parametrize("flag", ["--face", "--models", "--out", "--clip"])
def test_cli_paths_with_control_characters_are_usage_errors(tmp_path, capsys, flag):
    args = {"--face": "me.png", "--models": str(tmp_path), "--out": str(tmp_path / "me.safetensors")}
    args[flag] = "bad\x00name" if flag != "--out" else str(tmp_path / "bad\nname.safetensors")
    argv = ["make-lora"] + [part for key, value in args.items() for part in (key, value)]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert f"argument {flag}: the path" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cli_out_name_over_the_file_system_limit_is_named(tmp_path, capsys):
    out = tmp_path / ("n" * 250 + ".safetensors")
    assert main(["make-lora", "--face", "me.png", "--models", str(tmp_path), "--out", str(out)]) == 1
    assert "error: --out: the file name is 262 bytes long; file systems allow 255" in capsys.readouterr().err


def test_folder_names_with_control_characters_are_refused(monkeypatch, models_root):  # noqa: F811
    install(monkeypatch, models_root)
    folders = load_pack().nodes.folders
    folders.register_folders()
    with pytest.raises(ValueError, match="name 'sdxl\\\\x00' contains a control character"):
        folders.resolve_folder("hyper_lora", "sdxl\x00", "HyperLoRA checkpoint")


def test_setup_route_turns_a_folder_level_failure_into_a_json_error(tmp_path, monkeypatch):
    import sys

    from tests.test_setup_route import call_route, fake_folder_paths, pack_module, stand_in_server

    routes = stand_in_server(monkeypatch)
    monkeypatch.setitem(sys.modules, "folder_paths", fake_folder_paths(tmp_path, {}))
    route = pack_module("nodes.setup_route")

    def unreadable(folder_paths):
        raise PermissionError(13, "Permission denied", str(tmp_path))

    monkeypatch.setattr(route, "setup_report", unreadable)
    assert route.register_routes() is True

    status, report = call_route(routes, "GET", "/hyperlora/setup")
    assert status == 500 and report["ok"] is False and report["items"] == []
    assert "PermissionError" in report["error"] and "Check that the model folders are readable" in report["error"]


def test_encode_face_outputs_and_shows_previews_at_preview_size(comfy, models_root):  # noqa: F811
    """A big photo through the Encode Face node: the cached IMAGE output and the UI file are preview-sized."""
    from tests.test_nodes_pipeline import ENCODE_DEFAULTS, as_batch, node

    (analyzer,) = node(comfy, "HyperLoRAFaceAnalyzerLoader").load("models/antelopev2", "cpu")
    (clip_vision,) = node(comfy, "HyperLoRACLIPVisionLoader").load("clip_vit_tiny")
    photo = paint_marker(Image.new("RGB", (2400, 1800), GREY), (1000, 600, 1600, 1200))
    out = node(comfy, "HyperLoRAEncodeFace").encode(as_batch([photo]), clip_vision, analyzer, **ENCODE_DEFAULTS)

    detections = out["result"][2]
    assert tuple(detections.shape) == (1, 768, DETECTION_PREVIEW_SIDE, 3)  # not (1, 1800, 2400, 3)
    shown = out["ui"]["hyperlora_faces"][0]["preview"]["filename"]  # the face picker's picture
    with Image.open(os.path.join(comfy.folder_paths.get_temp_directory(), shown)) as image:
        assert image.size == (DETECTION_PREVIEW_SIDE, 768)
    assert out["ui"]["hyperlora_faces"][0]["width"] == 2400  # boxes stay in the photo's own pixels
