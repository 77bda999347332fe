"""LoRA files are written atomically and carry the metadata users rely on."""

import errno
import os
import stat

import pytest
import torch
from safetensors import safe_open

from hyperlora_core.engine.lora_file import lora_metadata, write_lora_atomically


def test_write_then_read_back_with_metadata(tmp_path):
    path = tmp_path / "me.safetensors"
    meta = lora_metadata("sdxl_hyper_id_lora_v1_fidelity", "kohya", 0.0, 0.8)
    write_lora_atomically(path, {"a.alpha": torch.tensor(4.0)}, meta)
    with safe_open(str(path), "pt") as f:
        assert f.metadata()["modelspec.trigger_phrase"] == "fcsks fxhks fhyks"
        assert f.metadata()["hyperlora.recommended_strength"] == "0.8"
        assert f.get_tensor("a.alpha").item() == 4.0
    assert [p.name for p in tmp_path.iterdir()] == ["me.safetensors"]


def disk_full(fd):
    """os.fsync failing as it does when the data written cannot be stored."""
    raise OSError(errno.ENOSPC, "No space left on device")


def test_failed_write_leaves_nothing_behind_and_says_so_in_one_line(tmp_path, monkeypatch):
    path = tmp_path / "me.safetensors"
    path.write_bytes(b"the previous, good file")
    monkeypatch.setattr(os, "fsync", disk_full)

    with pytest.raises(RuntimeError) as error:
        write_lora_atomically(path, {"a.alpha": torch.tensor(4.0)}, {})

    assert str(error.value) == (f"Could not write {path} (No space left on device); nothing was saved. Free some "
                                "disk space or choose another folder, then try again.")
    assert path.read_bytes() == b"the previous, good file"
    assert [p.name for p in tmp_path.iterdir()] == ["me.safetensors"]


def test_ctrl_c_during_the_write_leaves_no_temporary(tmp_path, monkeypatch):
    written = []

    def interrupted(fd):
        written.extend(p.name for p in tmp_path.iterdir())  # our one temporary, already holding the data
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_lora_atomically(tmp_path / "me.safetensors", {"a.alpha": torch.tensor(4.0)}, {})
    assert len(written) == 1 and written[0].startswith(".hyperlora-")
    assert list(tmp_path.iterdir()) == []


def test_only_one_temporary_of_ours_and_the_usual_permissions(tmp_path, monkeypatch):
    seen = []
    real_fsync = os.fsync

    def watching(fd):
        seen.append(sorted(p.name for p in tmp_path.iterdir()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", watching)
    old = os.umask(0o022)
    try:
        write_lora_atomically(tmp_path / "me.safetensors", {"a.alpha": torch.tensor(4.0)}, {})
    finally:
        os.umask(old)
    assert len(seen) == 1 and len(seen[0]) == 1  # no temporary of the safetensors library beside ours
    assert stat.S_IMODE((tmp_path / "me.safetensors").stat().st_mode) == 0o644


@pytest.mark.parametrize("length", [242, 250, 255])
def test_names_up_to_the_file_system_limit_work(tmp_path, length):
    path = tmp_path / ("n" * (length - len(".safetensors")) + ".safetensors")
    write_lora_atomically(path, {"a.alpha": torch.tensor(4.0)}, {})
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
