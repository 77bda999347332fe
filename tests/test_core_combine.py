"""The combination kernels (CPU paths, GPU streaming plan) against a float64 computation."""

import itertools

import pytest
import torch

import hyperlora_core as hl
from hyperlora_core.engine import combine_cpu, combine_gpu
from tests import reference
from tests.conftest import TINY_HEADS

HALF_ROUNDING = 2.0 ** -10  # one rounding of the result to fp16 (2^-11), with room for the fp16 coefficients


def exact(coeff, data):
    return torch.bmm(coeff.double().unsqueeze(1), data.double()).squeeze(1)


def random_group(slots, num_basis, width, dtype=torch.float16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    data = torch.randn(slots, num_basis, width, generator=gen).to(dtype)
    coeff = torch.nn.functional.normalize(torch.randn(slots, num_basis, generator=gen), dim=-1)
    return coeff, data


def assert_relative(got, want, tol):
    scale = want.abs().max()
    assert got.dtype == torch.float32
    assert (got.double() - want).abs().max() <= tol * scale


@pytest.mark.parametrize("path, tol", [("fp32_chunks", 1e-6), ("fused", HALF_ROUNDING),
                                       ("native_bmm", HALF_ROUNDING)])
def test_every_cpu_path_computes_the_weighted_sum(path, tol):
    coeff, data = random_group(5, 16, 24)
    assert_relative(combine_cpu.CPU_PATHS[path](coeff, data), exact(coeff, data), tol)


@pytest.mark.parametrize("path", ["fp32_chunks", "fused"])
def test_fp32_bases_stay_exact_on_the_cpu_paths(path):
    coeff, data = random_group(3, 8, 40, torch.float32)
    assert_relative(combine_cpu.CPU_PATHS[path](coeff, data), exact(coeff, data), 1e-6)


def test_fused_path_matches_the_spec_reference(tiny_checkpoint):
    model = hl.load_hyperlora(tiny_checkpoint, **TINY_HEADS)
    coeff = torch.nn.functional.normalize(torch.randn(model.config.num_queries, model.config.num_basis), dim=-1)
    ours = hl.kohya_state_dict([(model.lora_factors(coeff, cpu_path="fused"), 1.0)])
    ref = reference.kohya_lora(tiny_checkpoint, coeff, "id")
    for key, want in ref.items():
        if key.endswith("weight"):
            assert_relative(ours[key], want.double(), HALF_ROUNDING)


def test_plan_times_the_candidates_once_and_says_why(monkeypatch):
    monkeypatch.setattr(combine_cpu, "_PLANS", {})
    monkeypatch.delenv(combine_cpu.ENV_OVERRIDE, raising=False)
    monkeypatch.setattr(combine_cpu, "MIN_PLAN_BYTES", 1 << 16)
    monkeypatch.setattr(combine_cpu, "PLAN_SLICE_BYTES", 1 << 18)
    groups = [random_group(8, 16, 1024), random_group(2, 16, 64, seed=1)]
    plan = combine_cpu.cpu_plan(groups, torch.float16)
    assert plan.path in combine_cpu.candidates(torch.float16)
    assert set(plan.timings) == set(combine_cpu.candidates(torch.float16))
    assert plan.path == min(plan.timings, key=plan.timings.get)
    assert "fastest" in plan.reason and "threads" in plan.reason
    assert combine_cpu.cpu_plan(groups, torch.float16) is plan  # once per process


def test_native_half_bmm_is_a_candidate_only_where_the_cpu_has_it(monkeypatch):
    monkeypatch.setattr(combine_cpu, "native_half_matmul", lambda dtype: False)
    assert "native_bmm" not in combine_cpu.candidates(torch.float16)
    monkeypatch.setattr(combine_cpu, "native_half_matmul", lambda dtype: True)
    assert "native_bmm" in combine_cpu.candidates(torch.float16)


def test_fp32_has_no_native_half_matmul_to_offer():
    assert combine_cpu.native_half_matmul(torch.float32) is False


def test_small_banks_are_not_timed_and_not_remembered(monkeypatch):
    monkeypatch.setattr(combine_cpu, "_PLANS", {})
    monkeypatch.delenv(combine_cpu.ENV_OVERRIDE, raising=False)
    plan = combine_cpu.cpu_plan([random_group(2, 8, 16)], torch.float16)
    assert plan.path == combine_cpu.DEFAULT_PATH and not plan.timings
    assert combine_cpu._PLANS == {}


def test_environment_forces_a_path_and_rejects_unknown_ones(monkeypatch):
    monkeypatch.setenv(combine_cpu.ENV_OVERRIDE, "fused")
    assert combine_cpu.cpu_plan([random_group(2, 8, 16)], torch.float16).path == "fused"
    monkeypatch.setenv(combine_cpu.ENV_OVERRIDE, "fastest please")
    with pytest.raises(ValueError, match="HYPERLORA_CPU_PATH"):
        combine_cpu.cpu_plan([random_group(2, 8, 16)], torch.float16)


SHAPES = [(6, 4, 10), (3, 4, 30), (1, 4, 90), (5, 4, 2)]  # the single-slot group is the largest


CAPPED = [(10, 4, 10), (3, 4, 6)]  # a 400-element group under a 100-element (200-byte) cap


@pytest.mark.parametrize("shapes, cap_bytes, expected", [(SHAPES, 1 << 30, 360), (CAPPED, 200, 100)])
def test_streaming_plan_covers_every_slot_within_one_group_of_workspace(shapes, cap_bytes, expected):
    workspace, chunks = combine_gpu.plan_chunks(shapes, 2, cap_bytes)
    assert workspace == expected <= max(g * k * n for g, k, n in shapes)
    half = workspace // 2
    covered = {}
    for chunk in chunks:
        _, k, n = shapes[chunk.group]
        size = (chunk.stop - chunk.start) * k * n
        assert chunk.offset + size <= workspace
        if chunk.halves == (0, 1):
            assert chunk.offset == 0 and chunk.stop - chunk.start == 1
        else:
            (h,) = chunk.halves
            assert chunk.offset == h * half and size <= half
        covered.setdefault(chunk.group, []).extend(range(chunk.start, chunk.stop))
    assert covered == {i: list(range(g)) for i, (g, _, _) in enumerate(shapes)}
    single = [c.halves for c in chunks if c.halves != (0, 1)]
    assert all(a != b for a, b in itertools.pairwise(single))  # halves alternate: copy next, compute this


def test_streamed_combination_matches_the_exact_sum():
    groups = [random_group(g, k, n, seed=i) for i, (g, k, n) in enumerate(SHAPES)]
    outs = combine_gpu.combine_streamed([c for c, _ in groups], [d for _, d in groups], torch.device("cpu"))
    for (coeff, data), out in zip(groups, outs):
        assert_relative(out, exact(coeff, data), HALF_ROUNDING)


def test_streaming_a_real_bank_gives_the_exact_lora(tiny_checkpoint):
    """The auto policy's path (bases in RAM pass through a workspace), run on the CPU."""
    from hyperlora_core.engine.basis import combine_groups

    model = hl.load_hyperlora(tiny_checkpoint, **TINY_HEADS)
    coeff = torch.nn.functional.normalize(torch.randn(model.config.num_queries, model.config.num_basis), dim=-1)
    bank = model._banks["id"]
    exact_rows = combine_groups(bank, coeff, torch.device("cpu"), cpu_path="fp32_chunks")
    streamed = combine_gpu.combine_streamed([coeff.index_select(0, g.token_index) for g in bank.groups],
                                            [g.data for g in bank.groups], torch.device("cpu"))
    for want, got in zip(exact_rows, streamed):
        assert_relative(got, want.double(), HALF_ROUNDING)


def test_streaming_bytes_is_the_workspace_the_coefficients_and_the_lora(tiny_checkpoint):
    """What combine_streamed allocates on the device: its planned workspace, the coefficient rows in the
    bases' dtype, and each result in that dtype and in float32."""
    model = hl.load_hyperlora(tiny_checkpoint, **TINY_HEADS)
    bank = model._banks["id"]
    shapes = [tuple(g.data.shape) for g in bank.groups]
    size = bank.groups[0].data.element_size()
    workspace, _ = combine_gpu.plan_chunks(shapes, size)
    results = model.lora_factors(torch.zeros(model.config.num_queries, model.config.num_basis), compute_device="cpu")
    lora = sum(t.numel() for t in [*results.up.values(), *results.down.values()])
    rows = sum(len(g.slots) * bank.num_basis for g in bank.groups)
    assert model.streaming_bytes() == (workspace + rows) * size + lora * (size + 4)
    capped = combine_gpu.streaming_bytes(shapes, size, cap_bytes=size)  # a workspace of one slot at most
    assert capped == model.streaming_bytes() - (workspace - max(k * n for _, k, n in shapes)) * size


def test_streaming_workspace_is_capped_but_holds_a_slot():
    assert combine_gpu.workspace_elements(CAPPED, 2, 200) == 100
    assert combine_gpu.workspace_elements(CAPPED, 2, 10) == 40  # one slot of the largest kind
    assert combine_gpu.workspace_elements(CAPPED, 2, 1 << 30) == 400
