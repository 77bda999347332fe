"""Every hyper-parameter is inferred from tensor shapes."""

import pytest
import torch

import hyperlora_core as hl
from tests import reference
from tests.conftest import TINY_HEADS
from tests.synthetic_checkpoint import TINY_MODULES, write_synthetic_checkpoint


def test_config_inferred_from_shapes(tmp_path):
    folder = write_synthetic_checkpoint(tmp_path / "c", num_basis=12, rank=6, dim=48, depth=3, heads=3, dim_head=8,
                                        ff_mult=2, embed_dim=20, clip_dim=28, id_tokens=5)
    c = hl.load_hyperlora(folder, heads=3, dim_head=8).config
    assert (c.num_modules, c.num_basis, c.rank, c.base_rank) == (len(TINY_MODULES), 12, 6, 3)
    assert (c.dim, c.depth, c.heads, c.dim_head, c.ff_mult) == (48, 3, 3, 8, 2)
    assert (c.embed_dim, c.clip_dim, c.id_tokens, c.arcface_dim) == (20, 28, 5, 512)
    assert c.num_queries == 8 * len(TINY_MODULES) and c.two_conditions and c.has_base


def test_head_split_changes_the_math_but_not_the_shapes(tmp_path):
    folder = write_synthetic_checkpoint(tmp_path / "h", heads=2, dim_head=8, two_conditions=True, dtype=torch.float32)
    arcface = torch.nn.functional.normalize(torch.randn(1, 512), dim=-1)
    clip = torch.randn(1, 257, 24)
    as_2x8 = hl.load_hyperlora(folder, heads=2, dim_head=8).predict_id_coefficients(arcface, clip)
    as_4x4 = hl.load_hyperlora(folder, heads=4, dim_head=4).predict_id_coefficients(arcface, clip)
    torch.testing.assert_close(as_4x4.double(), reference.id_coefficients(folder, 4, arcface, clip), rtol=1e-5,
                               atol=1e-5)
    assert not torch.allclose(as_2x8, as_4x4)


def test_the_released_width_is_split_as_released_and_others_are_refused_unless_told(tmp_path):
    """The files hold only heads x dim_head: 768 is the released 12 x 64; any other width needs the caller."""
    released = write_synthetic_checkpoint(tmp_path / "r", heads=12, dim_head=64, dim=32, depth=1)
    c = hl.load_hyperlora(released).config
    assert (c.heads, c.dim_head) == (12, 64)
    assert (hl.load_hyperlora(released, heads=24).config.dim_head, hl.load_hyperlora(released, dim_head=32)
            .config.heads) == (32, 24)  # one given: the other follows from the width
    other = write_synthetic_checkpoint(tmp_path / "o", heads=2, dim_head=8)
    with pytest.raises(ValueError, match=r"attention width is 16, not the released 768.*Pass heads= and dim_head="):
        hl.load_hyperlora(other)
    assert (hl.load_hyperlora(other, heads=2).config.dim_head, hl.load_hyperlora(other, **TINY_HEADS).config.heads
            ) == (8, 2)
    with pytest.raises(ValueError, match=r"heads x dim_head = 3 x None.*product is 16"):
        hl.load_hyperlora(other, heads=3)
    with pytest.raises(ValueError, match=r"heads x dim_head = 4 x 8.*product is 16"):
        hl.load_hyperlora(other, heads=4, dim_head=8)


def test_one_condition_resampler_ignores_clip(tmp_path):
    folder = write_synthetic_checkpoint(tmp_path / "one", two_conditions=False, dtype=torch.float32, **TINY_HEADS)
    model = hl.load_hyperlora(folder, **TINY_HEADS)
    assert not model.config.two_conditions and model.config.clip_dim is None
    arcface = torch.nn.functional.normalize(torch.randn(2, 512), dim=-1)
    got = model.predict_id_coefficients(arcface, None)
    from safetensors.torch import load_file

    proj = {k: v.double() for k, v in load_file(str(folder / "id_projector.safetensors")).items()}
    tokens = (arcface.double() @ proj["0.weight"].T + proj["0.bias"]).reshape(2, -1, 24)
    tokens = reference.layer_norm(tokens, proj["2.weight"], proj["2.bias"])
    expected = reference.resampler(reference.load64(folder / "resampler.safetensors"), 2, tokens)
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-5)


def test_file_dtype_is_kept_by_default(tiny_checkpoint, tiny_checkpoint_fp32):
    assert hl.load_hyperlora(tiny_checkpoint, **TINY_HEADS).dtype == torch.float16
    assert hl.load_hyperlora(tiny_checkpoint_fp32, **TINY_HEADS).dtype == torch.float32


def test_bases_are_stacked_by_shape(tiny_checkpoint):
    model = hl.load_hyperlora(tiny_checkpoint, **TINY_HEADS)
    bank = model._banks["id"]
    shapes = [g.matrix_shape for g in bank.groups]
    assert len(shapes) == len(set(shapes))
    assert sum(len(g.slots) for g in bank.groups) == 2 * 4 * len(TINY_MODULES)
    assert all(g.data.shape == (len(g.slots), 8, g.matrix_shape[0] * g.matrix_shape[1]) for g in bank.groups)
    # widths present in the tiny modules: hidden 16/32, cross 24, rank 4 -> down (16|24|32, 4), up (4, 16|32)
    assert set(shapes) == {(16, 4), (24, 4), (32, 4), (4, 16), (4, 32)}
