"""LoRA files are written atomically and carry the metadata users rely on."""

import pytest
import torch
from safetensors import safe_open

from hyperlora_core.lora_file import lora_metadata, write_lora_atomically


def test_write_then_read_back_with_metadata(tmp_path):
    path = tmp_path / "me.safetensors"
    meta = lora_metadata("sdxl_hyper_id_lora_v1_fidelity", "kohya", 0.0, 0.8)
    write_lora_atomically(path, {"a.alpha": torch.tensor(4.0)}, meta)
    with safe_open(str(path), "pt") as f:
        assert f.metadata()["modelspec.trigger_phrase"] == "fcsks fxhks fhyks"
        assert f.metadata()["hyperlora.recommended_strength"] == "0.8"
        assert f.get_tensor("a.alpha").item() == 4.0
    assert [p.name for p in tmp_path.iterdir()] == ["me.safetensors"]


def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    path = tmp_path / "me.safetensors"
    path.write_bytes(b"the previous, good file")

    def broken_save(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr("safetensors.torch.save_file", broken_save)
    with pytest.raises(OSError, match="disk full"):
        write_lora_atomically(path, {"a.alpha": torch.tensor(4.0)}, {})
    assert path.read_bytes() == b"the previous, good file"
    assert [p.name for p in tmp_path.iterdir()] == ["me.safetensors"]
