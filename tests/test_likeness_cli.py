"""`python -m hyperlora_core likeness`: the printed scores are the engine's, for photos and for a saved identity."""

import json

import pytest
import torch
from PIL import Image

from hyperlora_core.cli import main
from hyperlora_core.library import identity_file
from tests.face_fixtures import GREY, paint_marker
from tests.tiny_onnx import write_antelopev2


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("likeness_cli")
    models = root / "models"
    write_antelopev2(models / "insightface" / "models" / "antelopev2")
    paths = {}
    for name, colour in {"ref": (1.0, 0.5), "same": (1.0, 0.5), "other": (0.7, 0.8)}.items():
        paths[name] = str(root / f"{name}.png")
        paint_marker(Image.new("RGB", (640, 480), GREY), (250, 150, 400, 300), *colour).save(paths[name])
    paths["blank"] = str(root / "blank.png")
    Image.new("RGB", (640, 480), GREY).save(paths["blank"])
    return root, models, paths


def test_scores_in_input_order_and_sorted(setup, capsys):
    _, models, p = setup
    assert main(["likeness", p["ref"], "--images", p["other"], p["blank"], p["same"], "--models", str(models),
                 "--device", "cpu"]) == 0
    lines = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]
    assert [line[1] for line in lines] == [p["other"], p["blank"], p["same"]]
    assert float(lines[2][0]) == pytest.approx(1.0, abs=1e-4) and float(lines[1][0]) == 0.0
    assert lines[1][2] == "no face found" and float(lines[0][0]) < 0.99

    assert main(["likeness", p["ref"], "--images", p["other"], p["blank"], p["same"], "--models", str(models),
                 "--device", "cpu", "--top-k", "2", "--json"]) == 0
    ranked = json.loads(capsys.readouterr().out)
    assert [r["image"] for r in ranked] == [p["same"], p["other"]]


def test_a_saved_identity_is_a_reference(setup, capsys):
    root, models, p = setup
    assert main(["likeness", p["ref"], "--images", p["same"], "--models", str(models), "--json"]) == 0
    from_photo = json.loads(capsys.readouterr().out)[0]["score"]
    from hyperlora_core.face import arcface_embedding, detect_faces, load_face_analyzer

    analyzer = load_face_analyzer(models / "insightface" / "models" / "antelopev2", provider="cpu")
    image = Image.open(p["ref"]).convert("RGB")
    embedding = torch.from_numpy(arcface_embedding(analyzer, image, detect_faces(analyzer, image)[0]))
    saved = identity_file.SavedIdentity(torch.zeros(2, 2), None, "alice", "x", "sha256:0", "", arcface=embedding)
    path = identity_file.save_identity(root / "alice.safetensors", saved)
    assert main(["likeness", str(path), "--images", p["same"], "--models", str(models), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["score"] == pytest.approx(from_photo, abs=1e-6)


def test_errors_are_one_line_messages(setup, capsys):
    _, models, p = setup
    assert main(["likeness", p["blank"], "--images", p["same"], "--models", str(models)]) == 1
    assert "No face found in reference photo 1" in capsys.readouterr().err
    assert main(["likeness", p["ref"], "--images", "/nonexistent.png", "--models", str(models)]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_a_wrong_path_gets_one_message_before_any_model_loads(setup, tmp_path, capsys):
    _, _, p = setup
    no_models = str(tmp_path / "no-models")  # the path is refused before the face models are looked for
    assert main(["likeness", str(tmp_path / "me.safetensors"), "--images", p["same"], "--models", no_models]) == 1
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "The identity file" in err and "does not exist" in err
    assert "Download" not in err and "Missing file" not in err and "antelopev2" not in err
    assert main(["likeness", p["ref"], "--images", str(tmp_path), "--models", no_models]) == 1
    err = capsys.readouterr().err
    assert f"The image {tmp_path} is a folder, not a file" in err and "Errno" not in err
    assert main(["likeness", str(tmp_path / "gone.png"), "--images", p["same"], "--models", no_models]) == 1
    assert "The reference photo" in capsys.readouterr().err
