"""The README's Python examples run as written, against tiny models laid out where they name them."""

from __future__ import annotations

import re
import runpy
import shutil

import pytest
import torch
from PIL import Image

from tests.face_fixtures import GREY, paint_marker, tiny_clip_dir  # noqa: F401
from tests.synthetic_checkpoint import write_synthetic_checkpoint
from tests.tiny_onnx import write_antelopev2
from tests.workflow_validation import REPO_ROOT


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (REPO_ROOT / "README.md").read_text(encoding="utf-8"), re.DOTALL)


@pytest.fixture
def readme_folder(tmp_path, tiny_clip_dir, monkeypatch):  # noqa: F811
    """A folder with models/ in the layout the README names (the released attention width) and me.jpg."""
    models = tmp_path / "models"
    write_synthetic_checkpoint(models / "hyper_lora" / "hyper_lora" / "sdxl_hyper_id_lora_v1_fidelity", dim=32,
                               depth=1, clip_dim=32, heads=12, dim_head=64, seed=5)
    shutil.copytree(tiny_clip_dir, models / "hyper_lora" / "clip_vit" / "clip_vit_large_14")
    write_antelopev2(models / "insightface" / "models" / "antelopev2")
    paint_marker(Image.new("RGB", (640, 480), GREY), (250, 150, 400, 300)).save(tmp_path / "me.jpg", quality=100)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_readme_has_python_examples():
    assert python_blocks()


@pytest.mark.parametrize("number", range(len(python_blocks())))
def test_readme_python_example_runs(readme_folder, number):
    script = readme_folder / f"readme_example_{number}.py"
    script.write_text(python_blocks()[number], encoding="utf-8")
    names = runpy.run_path(str(script))
    if "alpha" in names:  # the API example: what its comments promise
        model, alpha, factors = names["model"], names["alpha"], names["factors"]
        assert alpha.shape == (model.config.num_queries, model.config.num_basis)
        torch.testing.assert_close(alpha.norm(dim=-1), torch.ones(alpha.shape[0]))
        assert all(key.endswith((".lora_down.weight", ".lora_up.weight", ".alpha"))
                   for key in names["lora"])
        assert factors.alpha == model.config.rank / 2
        assert names["beta"].shape == alpha.shape
        assert names["score"].score == pytest.approx(1.0, abs=1e-4)
