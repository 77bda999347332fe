"""Identity library: Save Identity -> Load Identity gives the same LoRA, only with the checkpoint that made it."""

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hyperlora_core.library import identity_file
from tests.comfy_standin import comfy, models_root  # noqa: F401
from tests.face_fixtures import tiny_clip_dir  # noqa: F401
from tests.synthetic_checkpoint import write_synthetic_checkpoint

VARIANT = ("models", "hyper_lora", "hyper_lora", "sdxl_tiny_fidelity")


@pytest.fixture
def hyperlora(comfy):  # noqa: F811
    (loaded,) = comfy.node("HyperLoRACheckpointLoader").load("sdxl_tiny_fidelity", "auto", "cpu")
    return loaded


@pytest.fixture
def coefficients(comfy, hyperlora):  # noqa: F811
    """A predicted-like identity with an ArcFace reference and a face thumbnail."""
    gen = torch.Generator().manual_seed(11)
    shape = (hyperlora.config.num_queries, hyperlora.config.num_basis)
    alpha, beta = (torch.nn.functional.normalize(torch.randn(shape, generator=gen), dim=-1) for _ in range(2))
    arcface = torch.nn.functional.normalize(torch.randn(512, generator=gen), dim=0)
    face = Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 200, 3), dtype=np.uint8))
    return comfy.pack.nodes.types.Coefficients(hyperlora, alpha, beta, "alice", arcface=arcface, thumbnail=face)


def nodes(comfy):  # noqa: F811
    return comfy.node("HyperLoRASaveIdentity"), comfy.node("HyperLoRALoadIdentity")


def identities_dir(comfy) -> str:  # noqa: F811
    return comfy.folder_paths.get_folder_paths("hyper_lora_identities")[0]


@pytest.fixture(autouse=True)
def clean_identities(comfy):  # noqa: F811
    """models_root is shared by the session: start and end every test with an empty identities folder."""
    import shutil

    shutil.rmtree(identities_dir(comfy), ignore_errors=True)
    yield
    shutil.rmtree(identities_dir(comfy), ignore_errors=True)


def test_save_then_load_gives_identical_lora_factors(comfy, hyperlora, coefficients):  # noqa: F811
    save, load = nodes(comfy)
    out = save.save(coefficients, "cast/alice", False)
    path = out["result"][0]
    assert path == os.path.join(os.path.realpath(identities_dir(comfy)), "cast", "alice.safetensors")
    assert out["ui"]["text"] == [path]
    assert "cast/alice.safetensors" in comfy.pack.nodes.identity.list_identities()

    (loaded,) = load.load(hyperlora, "cast/alice.safetensors")
    assert torch.equal(loaded.alpha, coefficients.alpha) and torch.equal(loaded.beta, coefficients.beta)
    assert loaded.label == "alice" and torch.equal(loaded.arcface, coefficients.arcface)
    for kind in ("id", "base"):
        a, b = coefficients.factors(kind), loaded.factors(kind)
        assert all(torch.equal(a.up[k], b.up[k]) and torch.equal(a.down[k], b.down[k]) for k in a.up)
    assert loaded.thumbnail.size == (identity_file.THUMBNAIL_SIZE, identity_file.THUMBNAIL_SIZE)

    saved = identity_file.load_identity(path)
    assert saved.checkpoint == "sdxl_tiny_fidelity" and saved.fingerprint.startswith("sha256:")
    assert saved.created[:4].isdigit() and saved.thumbnail.dtype == np.uint8
    assert os.path.getsize(path) < 1_000_000
    assert os.listdir(os.path.dirname(path)) == ["alice.safetensors"]  # no temporary file left


def test_an_identity_without_base_or_reference_round_trips(comfy, hyperlora, coefficients):  # noqa: F811
    save, load = nodes(comfy)
    mixed = comfy.pack.nodes.types.Coefficients(hyperlora, coefficients.alpha, None, "a mix")
    save.save(mixed, "mix", False)
    (loaded,) = load.load(hyperlora, "mix.safetensors")
    assert loaded.beta is None and loaded.arcface is None and loaded.thumbnail is None
    assert torch.equal(loaded.alpha, coefficients.alpha)


def test_an_existing_name_is_never_silently_overwritten(comfy, hyperlora, coefficients):  # noqa: F811
    save, load = nodes(comfy)
    path = save.save(coefficients, "bob", False)["result"][0]
    before = Path(path).read_bytes()
    other = comfy.pack.nodes.types.Coefficients(hyperlora, -coefficients.alpha, None, "not bob")
    for name in ("bob", "bob.safetensors", " bob "):
        with pytest.raises(ValueError, match="already exists.*overwrite"):
            save.save(other, name, False)
    assert Path(path).read_bytes() == before
    for not_a_boolean in ("false", "False", "0", 0, None, [False]):  # issue 25: the text "false" replaced the file
        with pytest.raises(ValueError, match="overwrite must be true or false, got"):
            save.save(other, "bob", not_a_boolean)
    assert Path(path).read_bytes() == before
    save.save(other, "bob", True)
    (loaded,) = load.load(hyperlora, "bob.safetensors")
    assert loaded.label == "not bob" and torch.equal(loaded.alpha, -coefficients.alpha)


@pytest.mark.parametrize("name", ["", "  ", "../escape", "/etc/passwd", "a/../../b", "a//b", "./a", "a\\..\\b",
                                  "con:stream", "nul\x00byte", "tab\tname", "a/ b", "dots.", "x" * 300,
                                  "NUL", "cast/com1.txt"])
def test_names_with_path_tricks_are_refused(comfy, coefficients, name):  # noqa: F811
    save, _ = nodes(comfy)
    with pytest.raises(ValueError):
        save.save(coefficients, name, False)
    assert not os.path.exists(identities_dir(comfy)) or not any(
        files for _, _, files in os.walk(identities_dir(comfy)))


def test_a_symlink_out_of_the_folder_is_refused(comfy, coefficients, tmp_path):  # noqa: F811
    save, load = nodes(comfy)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.makedirs(identities_dir(comfy), exist_ok=True)
    os.symlink(outside, os.path.join(identities_dir(comfy), "link"))
    with pytest.raises(ValueError, match="outside the identities folder"):
        save.save(coefficients, "link/alice", False)
    assert not list(outside.iterdir())
    with pytest.raises(ValueError, match="must stay inside"):
        load.load(coefficients.hyperlora, "../sdxl_tiny_fidelity/hyper_lora_modules.json")


def test_another_checkpoint_with_the_same_shapes_is_refused_by_name(comfy, hyperlora, coefficients,  # noqa: F811
                                                                    tmp_path):
    save, load = nodes(comfy)
    save.save(coefficients, "alice", False)
    edit = write_synthetic_checkpoint(tmp_path / "sdxl_tiny_edit", seed=99, dim=32, depth=1, clip_dim=32,
                                      dtype=torch.float32, heads=12, dim_head=64)
    other = comfy.pack.nodes.loaders.load_checkpoint(str(edit), "auto", "cpu")
    assert (other.config.num_queries, other.config.num_basis) == tuple(coefficients.alpha.shape)
    with pytest.raises(ValueError, match="made with the HyperLoRA checkpoint 'sdxl_tiny_fidelity'.*load "
                                         "'sdxl_tiny_fidelity'"):
        load.load(other, "alice.safetensors")


def test_fingerprint_tells_files_apart_without_reading_the_bases_in_full(models_root, tmp_path, monkeypatch):  # noqa: F811
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(models_root.joinpath(*VARIANT), folder)
    original = identity_file.checkpoint_fingerprint(folder)
    assert identity_file.checkpoint_fingerprint(folder) == original  # cached
    assert identity_file.checkpoint_fingerprint(models_root.joinpath(*VARIANT)) == original  # same bytes

    bases = folder / "hyper_lora_modules.safetensors"
    monkeypatch.setattr(identity_file, "FULL_HASH_LIMIT", 0)  # sample every file, as for the 3 GB bases
    monkeypatch.setattr(identity_file, "SAMPLES", 2)
    monkeypatch.setattr(identity_file, "SAMPLE_BYTES", 64)
    sampled = identity_file.checkpoint_fingerprint(folder)
    size = bases.stat().st_size
    unsampled_offset = 64 + (size - 64) // 4  # between the header sample and the first slice
    data = bytearray(bases.read_bytes())
    data[unsampled_offset] ^= 0xFF
    bases.write_bytes(bytes(data))
    os.utime(bases, ns=(1, 1))
    assert identity_file.checkpoint_fingerprint(folder) == sampled  # that byte is not read
    data[size - 10] ^= 0xFF  # inside the last slice
    bases.write_bytes(bytes(data))
    os.utime(bases, ns=(2, 2))
    assert identity_file.checkpoint_fingerprint(folder) != sampled


def test_damaged_or_foreign_files_are_refused(comfy, hyperlora, coefficients, tmp_path):  # noqa: F811
    from safetensors.torch import save_file

    save, load = nodes(comfy)
    folder = identities_dir(comfy)
    os.makedirs(folder, exist_ok=True)
    save_file({"x": torch.zeros(2)}, os.path.join(folder, "a_lora.safetensors"))
    with pytest.raises(ValueError, match="not a HyperLoRA identity file"):
        load.load(hyperlora, "a_lora.safetensors")
    path = save.save(coefficients, "nan", False)["result"][0]
    saved = identity_file.load_identity(path)
    saved.alpha[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        identity_file.save_identity(tmp_path / "x.safetensors", saved)
    assert not (tmp_path / "x.safetensors").exists()
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 100)
    with pytest.raises(ValueError):
        load.load(hyperlora, "nan.safetensors")
    with pytest.raises(ValueError, match="was not found"):
        load.load(hyperlora, "missing.safetensors")


def test_a_loaded_identity_is_a_likeness_reference_and_needs_no_face_models(comfy, hyperlora, coefficients):  # noqa: F811
    import sys

    save, load = nodes(comfy)
    save.save(coefficients, "alice", False)
    (loaded,) = load.load(hyperlora, "alice.safetensors")
    reference = comfy.pack.nodes.likeness.reference_of(None, loaded)
    assert torch.allclose(reference, coefficients.arcface, atol=1e-6)
    assert "clip_vision" not in getattr(sys.modules.get("comfy"), "loaded_paths", [])


def test_load_list_is_read_fresh(comfy, coefficients):  # noqa: F811
    save, load = nodes(comfy)
    assert load.INPUT_TYPES()["required"]["identity"][1]["options"] == []
    save.save(coefficients, "zoe", False)
    assert load.INPUT_TYPES()["required"]["identity"][1]["options"] == ["zoe.safetensors"]
    assert not np.isnan(load.fingerprint_inputs(identity="zoe.safetensors"))


def test_thumbnail_route_serves_only_installed_identities(comfy, coefficients):  # noqa: F811
    import io

    save, _ = nodes(comfy)
    save.save(coefficients, "cast/alice", False)
    route = comfy.pack.nodes.identity_route
    png = route.thumbnail_png("cast/alice.safetensors")
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (identity_file.THUMBNAIL_SIZE,) * 2
    expected = identity_file.thumbnail_array(coefficients.thumbnail)
    assert np.array_equal(np.asarray(image.convert("RGB")), expected)
    for bad in ("../hyper_lora/sdxl_tiny_fidelity/hyper_lora_modules.json", "/etc/passwd", "missing", "a\x00b"):
        with pytest.raises(ValueError):
            route.thumbnail_png(bad)
    mixed = comfy.pack.nodes.types.Coefficients(coefficients.hyperlora, coefficients.alpha, None, "mix")
    save.save(mixed, "mix", False)
    assert route.thumbnail_png("mix.safetensors") is None


def test_thumbnail_route_answers_400_for_a_malformed_name_and_404_for_a_missing_one(comfy, monkeypatch):  # noqa: F811
    from tests.test_setup_route import call_route, stand_in_server

    routes = stand_in_server(monkeypatch)
    assert comfy.pack.nodes.identity_route.register_routes() is True
    for bad in ("../escape", "/etc/passwd", "tab\tname", "x" * 300, "", "NUL"):
        status, answer = call_route(routes, "GET", "/hyperlora/identity_thumbnail", params={"name": bad})
        assert status == 400 and "identity" in answer["error"].lower(), (bad, status, answer)
    status, answer = call_route(routes, "GET", "/hyperlora/identity_thumbnail", params={"name": "nobody"})
    assert status == 404 and "was not found" in answer["error"]


@pytest.mark.parametrize("failure", ["read_only", "disk_full"])
def test_a_failed_save_names_the_folder_and_leaves_nothing_behind(comfy, coefficients, monkeypatch, failure):  # noqa: F811
    """Issue 25: a read-only identities folder or a full disk: which folder, what to do, no file, no empty
    sub-folder made for the name. (The tests run as root, which writes anywhere: the refusal is simulated at
    the system call, as the kernel gives it.)"""
    import errno
    import os

    save, _ = nodes(comfy)
    save.save(coefficients, "first", False)  # the identities folder exists
    folder = Path(identities_dir(comfy))
    real_open = os.open

    def refuse(path, flags, mode=0o777, **kwargs):
        if failure == "read_only" and str(path).startswith(str(folder)):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, mode, **kwargs)

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "open", refuse)
    if failure == "disk_full":
        monkeypatch.setattr(os, "fsync", disk_full)
    advice = "read-only" if failure == "read_only" else "Free some disk space"
    for name in ("second", "cast/alice", "a/b/c"):
        with pytest.raises(RuntimeError, match=rf"{folder}.*nothing was saved\. .*{advice}") as refused:
            save.save(coefficients, name, False)
        assert "Traceback" not in str(refused.value)
    assert sorted(p.name for p in folder.iterdir()) == ["first.safetensors"]
    if failure == "read_only":  # a folder that cannot even be made is named too
        def no_mkdir(self, *args, **kwargs):
            raise PermissionError(errno.EROFS, "Read-only file system", str(self))

        monkeypatch.setattr(Path, "mkdir", no_mkdir)
        with pytest.raises(ValueError, match=rf"Could not create the folder {folder}/cast for the identity .*"
                                             "read-only"):
            save.save(coefficients, "cast/alice", False)


def test_names_that_differ_only_in_unicode_form_are_one_identity(comfy, hyperlora, coefficients):  # noqa: F811
    """'José' typed with a combining accent (NFD, macOS) and precomposed (NFC) look the same in the list."""
    import unicodedata

    save, load = nodes(comfy)
    nfc, nfd = unicodedata.normalize("NFC", "José"), unicodedata.normalize("NFD", "José")
    assert nfc != nfd
    path = save.save(coefficients, nfd, False)["result"][0]
    assert Path(path).name == nfc + ".safetensors"
    with pytest.raises(ValueError, match="already exists"):
        save.save(coefficients, nfc, False)
    for name in (nfc, nfd, nfd + ".safetensors"):
        (loaded,) = load.load(hyperlora, name)
        assert torch.equal(loaded.alpha, coefficients.alpha)
    old = Path(path).with_name(nfd + ".safetensors")  # saved under NFD by a version that did not normalise
    Path(path).rename(old)
    for name in (nfc, nfd):
        (loaded,) = load.load(hyperlora, name)
        assert torch.equal(loaded.alpha, coefficients.alpha)
    with pytest.raises(ValueError, match="already exists"):
        save.save(coefficients, nfc, False)
    assert sorted(p.name for p in old.parent.iterdir()) == [old.name]
    other = comfy.pack.nodes.types.Coefficients(hyperlora, -coefficients.alpha, None, "other")
    save.save(other, nfc, True)  # replaces the file that is there, under its own form: still one file
    assert sorted(p.name for p in old.parent.iterdir()) == [old.name]
    (loaded,) = load.load(hyperlora, nfc)
    assert torch.equal(loaded.alpha, -coefficients.alpha)


# ---------------------------------------------------------------- identity files under attack (issue 19)


def write_raw_identity(path, metadata: dict, thumbnail_shape=(8, 8, 3)) -> None:
    """An identity file written by hand: any metadata values (the safetensors writer takes text only)."""
    import json
    import struct

    alpha = np.zeros((4, 8), dtype=np.float32).tobytes()
    thumb = bytes(int(np.prod(thumbnail_shape)))
    header = {"__metadata__": metadata,
              "alpha": {"dtype": "F32", "shape": [4, 8], "data_offsets": [0, len(alpha)]},
              "thumbnail": {"dtype": "U8", "shape": list(thumbnail_shape),
                            "data_offsets": [len(alpha), len(alpha) + len(thumb)]}}
    raw = json.dumps(header).encode()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(struct.pack("<Q", len(raw)) + raw + alpha + thumb)


GOOD_METADATA = {"hyperlora.format": "hyperlora.identity", "hyperlora.version": "1", "hyperlora.label": "x",
                 "hyperlora.checkpoint": "sdxl_tiny_fidelity", "hyperlora.checkpoint_fingerprint": "sha256:0",
                 "hyperlora.created": "2025-01-01"}


@pytest.mark.parametrize("key", sorted(GOOD_METADATA))
@pytest.mark.parametrize("value", [5, 1.5, None, True, ["a"], {"a": "b"}])
def test_every_metadata_value_that_is_not_text_is_named(tmp_path, key, value):
    path = tmp_path / "odd.safetensors"
    write_raw_identity(path, {**GOOD_METADATA, key: value})
    with pytest.raises(ValueError, match=f"{path}.*'{key}' is not text"):
        identity_file.load_identity(path)


def test_an_empty_thumbnail_is_no_thumbnail_and_resaving_works(comfy, hyperlora, tmp_path):  # noqa: F811
    path = Path(identities_dir(comfy)) / "empty_thumb.safetensors"
    write_raw_identity(path, GOOD_METADATA, thumbnail_shape=(0, 0, 3))
    saved = identity_file.load_identity(path)
    assert saved.thumbnail is None
    assert comfy.pack.nodes.identity_route.thumbnail_png("empty_thumb") is None  # a 404 that says what it means:
    assert "works as usual" in comfy.pack.nodes.identity_route.no_thumbnail_text("empty_thumb")
    assert identity_file.thumbnail_array(Image.new("RGB", (0, 0))) is None
    saved.thumbnail = np.zeros((0, 5, 3), dtype=np.uint8)
    identity_file.save_identity(tmp_path / "again.safetensors", saved)
    assert identity_file.load_identity(tmp_path / "again.safetensors").thumbnail is None


def test_an_identity_without_fingerprint_says_so(comfy, hyperlora, coefficients):  # noqa: F811
    save, load = nodes(comfy)
    path = save.save(coefficients, "old", False)["result"][0]
    saved = identity_file.load_identity(path)
    for fingerprint, message in (("", "has no checkpoint fingerprint"),
                                 ("sha256:1234", "files differ from the loaded one")):
        saved.fingerprint = fingerprint
        identity_file.save_identity(path, saved, overwrite=True)
        with pytest.raises(ValueError, match=message) as caught:
            load.load(hyperlora, "old")
        assert "but the loaded checkpoint is 'sdxl_tiny_fidelity'" not in str(caught.value)


def test_a_long_cjk_name_is_counted_in_bytes(comfy, coefficients):  # noqa: F811
    save, _ = nodes(comfy)
    with pytest.raises(ValueError, match=r"300 bytes.*at most 200 bytes"):
        save.save(coefficients, "名" * 100, False)
    assert save.save(coefficients, "名" * 66, False)["result"][0].endswith("名" * 66 + ".safetensors")


def test_a_file_where_a_folder_is_needed_is_named(comfy, coefficients):  # noqa: F811
    save, _ = nodes(comfy)
    os.makedirs(identities_dir(comfy), exist_ok=True)
    Path(identities_dir(comfy), "blocker").write_text("a file")
    for name in ("blocker/x", "blocker/deeper/x"):
        with pytest.raises(ValueError, match=r"needs the folder .*blocker.*but it is a file"):
            save.save(coefficients, name, True)


def test_a_folder_named_like_the_identity_is_never_replaced(comfy, coefficients):  # noqa: F811
    save, _ = nodes(comfy)
    folder = Path(identities_dir(comfy), "x.safetensors")
    (folder / "inside").mkdir(parents=True)
    with pytest.raises(ValueError, match="is a folder, not a regular file"):
        save.save(coefficients, "x", True)
    assert (folder / "inside").is_dir()


def test_a_name_that_is_a_link_to_another_identity_does_not_overwrite_it(comfy, hyperlora, coefficients):  # noqa: F811
    save, _ = nodes(comfy)
    bob = save.save(coefficients, "bob", False)["result"][0]
    before = Path(bob).read_bytes()
    os.symlink(bob, os.path.join(identities_dir(comfy), "alias.safetensors"))
    other = comfy.pack.nodes.types.Coefficients(hyperlora, -coefficients.alpha, None, "not bob")
    with pytest.raises(ValueError, match="symbolic link, not a regular file"):
        save.save(other, "alias", True)
    assert Path(bob).read_bytes() == before


def test_two_saves_of_one_new_name_cannot_both_succeed(comfy, coefficients, monkeypatch):  # noqa: F811
    """The other process writes the name after all our checks, while our file is written: ours must fail,
    theirs stay."""
    save, _ = nodes(comfy)
    target = Path(identities_dir(comfy), "race.safetensors")
    real_fsync = os.fsync

    def fsync_while_another_process_writes(fd):
        real_fsync(fd)
        target.write_bytes(b"theirs")

    monkeypatch.setattr(os, "fsync", fsync_while_another_process_writes)
    with pytest.raises(ValueError, match="created by someone else"):
        save.save(coefficients, "race", False)
    assert target.read_bytes() == b"theirs"
    assert not list(Path(identities_dir(comfy)).glob(".hyperlora-*"))


def test_an_identity_file_with_the_released_shapes_is_about_0_6_mb_or_1_2_with_a_base_lora(tmp_path):
    """The size the README and Save Identity's description give: alpha (1120 x 128 float32, 573 KB), the
    ArcFace reference and a 128 px thumbnail; beta (same shape) doubles it."""
    import numpy as np

    from hyperlora_core.library.identity_file import SavedIdentity, save_identity

    queries, num_basis = 8 * 140, 128  # 8 tokens for each of SDXL's 140 attention modules, K = 128
    alpha = torch.nn.functional.normalize(torch.randn(queries, num_basis), dim=-1)
    thumbnail = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    sizes = []
    for beta in (None, alpha.clone()):
        identity = SavedIdentity(alpha, beta, "x", "sdxl_hyper_id_lora_v1_fidelity", "f" * 64,
                                 "2026-01-01T00:00:00", torch.nn.functional.normalize(torch.randn(512), dim=0),
                                 thumbnail)
        sizes.append(save_identity(tmp_path / f"{beta is None}.safetensors", identity).stat().st_size / 1e6)
    assert 0.6 < sizes[0] < 0.65 and 1.15 < sizes[1] < 1.25, sizes  # "about 0.6 MB, 1.2 MB with a Base-LoRA"


def test_an_identity_of_the_right_checkpoint_but_the_wrong_shape_is_refused(comfy, hyperlora, coefficients):  # noqa: F811
    """A damaged or hand-edited file whose fingerprint matches: refused at Load Identity, saying what to do."""
    save, load = nodes(comfy)
    saved = identity_file.load_identity(save.save(coefficients, "alice", False)["result"][0])
    cut = dataclasses.replace(saved, alpha=saved.alpha[:-8], beta=None)
    identity_file.save_identity(os.path.join(identities_dir(comfy), "cut.safetensors"), cut)
    with pytest.raises(ValueError, match=r"has coefficients of shape \(40, 8\).*save the identity again"):
        load.load(hyperlora, "cut.safetensors")
