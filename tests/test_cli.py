"""`python -m hyperlora_core` on tiny models: the saved LoRA is checked against the naive reference."""

import json
import shutil
import subprocess
import sys

import pytest
import torch
from PIL import Image
from safetensors import safe_open

from hyperlora_core import face
from hyperlora_core.cli import main
from tests import reference
from tests.face_fixtures import GREY, paint_marker, tiny_clip_dir  # noqa: F401
from tests.synthetic_checkpoint import write_synthetic_checkpoint
from tests.tiny_onnx import write_antelopev2

VARIANT = "sdxl_tiny_fidelity"
HEADS = 12  # the CLI loads with the released 12 x 64 split, as users do


@pytest.fixture(scope="module")
def models(tmp_path_factory, tiny_clip_dir):  # noqa: F811
    """A ComfyUI models folder in the official layout, with tiny models."""
    root = tmp_path_factory.mktemp("cli") / "models"
    write_synthetic_checkpoint(root / "hyper_lora" / "hyper_lora" / VARIANT, dim=32, depth=1, clip_dim=32,
                               heads=HEADS, dim_head=64, dtype=torch.float32, seed=11)
    shutil.copytree(tiny_clip_dir, root / "hyper_lora" / "clip_vit" / "clip_vit_large_14")
    write_antelopev2(root / "insightface" / "models" / "antelopev2")
    return root


@pytest.fixture(scope="module")
def photo_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    paths = []
    for i, box in enumerate([(250, 150, 400, 300), (100, 200, 250, 350)]):
        paths.append(folder / f"me{i}.png")
        paint_marker(Image.new("RGB", (640, 480), GREY), box).save(paths[-1])
    return [str(p) for p in paths]


def expected_conditioning(models, photo_files, with_base=False):
    """The face features computed directly with the face pipeline (what the CLI must feed the model)."""
    analyzer = face.load_face_analyzer(models / "insightface", provider="cpu")
    clip_folder = models / "hyper_lora" / "clip_vit" / "clip_vit_large_14"
    encoder = face.TransformersCLIPEncoder.from_folder(clip_folder)
    images = [Image.open(p).convert("RGB") for p in photo_files]
    return face.encode_faces(images, analyzer, encoder, with_base=with_base)


def read_lora(path):
    with safe_open(str(path), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()  # noqa: SIM118 (not a dict)


def make_args(models, photo_files, out, *extra):
    faces = [arg for p in photo_files for arg in ("--face", p)]
    return ["make-lora", *faces, "--models", str(models), "--out", str(out), "--device", "cpu", *extra]


def test_make_lora_writes_the_reference_lora_with_metadata(models, photo_files, tmp_path, capsys):
    out = tmp_path / "me.safetensors"

    assert main(make_args(models, photo_files, out, "--precision", "fp32")) == 0

    tensors, metadata = read_lora(out)
    folder = models / "hyper_lora" / "hyper_lora" / VARIANT
    cond = expected_conditioning(models, photo_files)
    alpha = reference.id_coefficients(folder, HEADS, cond.arcface, cond.clip_tokens)
    expected = reference.kohya_lora(folder, alpha, "id")
    assert set(tensors) == set(expected)
    for key, value in expected.items():
        torch.testing.assert_close(tensors[key].double(), value.double(), rtol=1e-4, atol=1e-5)
    assert metadata["hyperlora.trigger_words"] == "fcsks fxhks fhyks"
    assert metadata["modelspec.trigger_phrase"] == "fcsks fxhks fhyks"
    assert metadata["hyperlora.source_checkpoint"] == VARIANT
    assert metadata["hyperlora.recommended_strength"] == "0.8"
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out)
    assert "photo 2 of 2" in captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["me.safetensors"]  # no temporary file left


def test_kohya_style_with_baked_base_lora_gives_the_summed_weight_change(models, photo_files, tmp_path):
    out = tmp_path / "me_kohya.safetensors"

    assert main(make_args(models, photo_files, out, "--style", "kohya", "--base-strength", "0.5",
                          "--precision", "fp32", "--strength", "0.75")) == 0

    tensors, metadata = read_lora(out)
    assert metadata["hyperlora.recommended_strength"] == "0.75"
    folder = models / "hyper_lora" / "hyper_lora" / VARIANT
    cond = expected_conditioning(models, photo_files, with_base=True)
    alpha = reference.id_coefficients(folder, HEADS, cond.arcface, cond.clip_tokens)
    beta = reference.base_coefficients(folder, HEADS, cond.base_clip_tokens)
    id_lora, base_lora = reference.kohya_lora(folder, alpha), reference.kohya_lora(folder, beta, "base")
    names = [k[: -len(".alpha")] for k in id_lora if k.endswith(".alpha")]
    for name in names:
        expected = sum(strength * 0.5 * lora[f"{name}.lora_up.weight"] @ lora[f"{name}.lora_down.weight"]
                       for lora, strength in ((id_lora, 1.0), (base_lora, 0.5)))
        module, projection = name.rsplit("_to_", 1)
        saved = f"{reference.ldm_name(module)}_to_{projection}"
        up, down = tensors[f"{saved}.lora_up.weight"].double(), tensors[f"{saved}.lora_down.weight"].double()
        actual = tensors[f"{saved}.alpha"].item() / down.shape[0] * up @ down
        torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5)


def test_expected_failures_exit_1_with_a_message_and_write_nothing(models, photo_files, tmp_path, capsys):
    out = tmp_path / "me.safetensors"
    blank = tmp_path / "blank.png"
    Image.new("RGB", (640, 480), GREY).save(blank)

    assert main(make_args(models, [str(tmp_path / "nope.jpg")], out)) == 1
    assert "nope.jpg does not exist" in capsys.readouterr().err

    assert main(make_args(models, [str(blank)], out)) == 1
    err = capsys.readouterr().err
    assert f"error: No face found in image 1 of 1, {blank} (640x480 pixels)" in err and "Traceback" not in err
    assert "add --skip-missing" in err and "skip_images_without_face" not in err
    assert f"1 = {blank}" in err  # the progress says which file is image 1

    assert main(make_args(models, photo_files, out, "--variant", "sdxl_other")) == 1
    assert f"Installed: {VARIANT}" in capsys.readouterr().err

    out.write_bytes(b"keep me")
    assert main(make_args(models, photo_files, out)) == 1
    assert "--force" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blank.png", "me.safetensors"]


def test_a_full_disk_gives_one_readable_line_and_leaves_no_file(models, photo_files, tmp_path, monkeypatch, capsys):
    import errno
    import os

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    out = tmp_path / "me.safetensors"

    assert main(make_args(models, photo_files, out)) == 1
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last == (f"error: Could not write {out} (No space left on device); nothing was saved. Free some disk "
                    "space or choose another folder, then try again.")
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["make-lora", "--models", "x", "--out", "y.safetensors"])  # no --face
    assert exit_info.value.code == 2
    assert "--face" in capsys.readouterr().err


def test_check_command(models, tmp_path, capsys):
    ok = subprocess.run([sys.executable, "-m", "hyperlora_core", "check", "--models", str(models)],
                        check=False, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "All required files are installed" in ok.stdout

    assert main(["check", "--models", str(tmp_path), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    folders = {item["folder"] for item in report["items"] if item["status"] == "missing"}
    assert str(tmp_path / "insightface" / "models" / "antelopev2") in folders


def test_check_on_a_folder_that_does_not_exist_says_so(tmp_path, capsys):
    """Not a list of every model as missing: the folder itself is named as absent (a typo in --models)."""
    for gone, what in ((tmp_path / "no_such_models", "does not exist"), (tmp_path / "file.txt", "is a file")):
        if what == "is a file":
            gone.write_text("x")
        assert main(["check", "--models", str(gone)]) == 1
        captured = capsys.readouterr()
        assert f"{gone} {what}" in captured.err and "missing" not in captured.out


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_make_lora_never_replaces_what_is_not_a_regular_file(tmp_path, capsys, force):
    import os

    from tests.test_workflow_convert import not_regular_targets

    for what, target in not_regular_targets(tmp_path / "out").items():
        target = target.rename(target.with_suffix(".safetensors"))
        before = os.lstat(target)
        args = ["make-lora", "--face", "x.png", "--models", str(tmp_path), "--out", str(target), *force]
        assert main(args) == 1, what
        err = capsys.readouterr().err
        assert str(target) in err and "not a regular file" in err, err
        assert os.lstat(target).st_ino == before.st_ino


def test_cli_runs_from_another_folder_by_path(tmp_path):
    """`python -m hyperlora_core` needs the pack folder as cwd; the README's path form works anywhere."""
    import subprocess
    import sys
    from pathlib import Path

    pack = Path(__file__).resolve().parents[1] / "hyperlora_core"
    result = subprocess.run([sys.executable, str(pack), "check", "--help"], cwd=tmp_path,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "--models" in result.stdout


@pytest.mark.parametrize("command", ["make-lora", "check", "convert-workflow", "likeness"])
def test_subcommand_help_describes_the_command(command, capsys):
    from hyperlora_core.cli import build_parser

    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices[command]
    assert sub.description and len(sub.description) > 20
    assert " ".join(sub.description.split()[:3]) in " ".join(sub.format_help().split())
@pytest.mark.parametrize("command", ["make-lora", "check", "convert-workflow", "likeness"])
def test_each_command_help_says_what_it_does(command, capsys):
    from hyperlora_core.cli import build_parser

    description = build_parser()._subparsers._group_actions[0].choices[command].description
    assert description and len(description) > 80, f"{command} has no description of its own"
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert " ".join(description.split()) in help_text


def test_the_folder_form_runs_from_any_folder(tmp_path):
    """README: `python path/to/comfyui-hyperlora/hyperlora_core ...` works from ComfyUI's root or anywhere."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "models").mkdir(parents=True)
    env = {key: value for key, value in __import__("os").environ.items() if key != "PYTHONPATH"}
    run = subprocess.run([sys.executable, str(root / "hyperlora_core"), "check", "--models", "models"],
                         cwd=elsewhere, env=env, check=False, capture_output=True, text=True)
    assert "No module named" not in run.stderr
    assert run.returncode == 1, run.stdout + run.stderr  # ran, and found no models
    assert f"models folder: {Path('models')}" in run.stdout and "MISSING" in run.stdout
    usage = subprocess.run([sys.executable, str(root / "hyperlora_core"), "--help"], cwd=elsewhere, env=env,
                           check=True, capture_output=True, text=True).stdout
    # argparse wraps the usage line when the path is long (CI clones into a temporary folder of any length)
    assert " ".join(usage.split()).startswith(f"usage: python {root / 'hyperlora_core'} ")


def test_the_installed_command_is_main_and_names_itself(monkeypatch):
    import re
    from pathlib import Path

    from hyperlora_core import cli

    pyproject = Path(__file__).resolve().parents[1].joinpath("pyproject.toml").read_text()
    module, function = re.search(r'^hyperlora = "([\w.]+):(\w+)"$', pyproject, re.MULTILINE).groups()
    assert (module, function) == ("hyperlora_core.cli", "main") and cli.main is getattr(cli, function)
    monkeypatch.setattr(sys, "argv", ["/home/me/.venv/bin/hyperlora", "check"])
    assert cli.build_parser().prog == "hyperlora"
    monkeypatch.setattr(sys, "argv", ["/x/hyperlora_core/__main__.py", "check"])
    assert cli.build_parser().prog == "python -m hyperlora_core"


def test_converting_a_workflow_without_official_nodes_says_so(tmp_path, capsys):
    source = tmp_path / "plain.json"
    source.write_text(json.dumps({"nodes": [{"id": 1, "type": "KSampler", "inputs": [], "outputs": [],
                                             "widgets_values": []}], "links": []}))
    assert main(["convert-workflow", str(source), "-o", str(tmp_path / "out.json")]) == 0
    out = capsys.readouterr().out
    assert "Replaced 0" not in out and "no nodes of the official HyperLoRA pack" in out
