"""The combination kernels (CPU paths, GPU streaming plan) against a float64 computation."""

import itertools

import pytest
import torch

import hyperlora_core as hl
from hyperlora_core.engine import basis, combine_cpu, combine_gpu
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


@pytest.mark.parametrize("width, tile", [(10240, 256), (5120, 256), (16384, 256), (192, 192), (600, 200),
                                         (8 * 1031, 8 * 1031)])
def test_tiles_divide_the_slot_and_are_not_too_narrow(width, tile):
    assert basis.tile_width(width) == tile
    assert basis.tile_width(width, 0) == width  # TILE_WIDTH 0: no tiles


@pytest.mark.parametrize("path", ["fused", "fp32_chunks", "native_bmm"])
def test_tiled_bases_hold_column_blocks_and_give_the_exact_lora(tiny_checkpoint, monkeypatch, path):
    """Tiles of 64 columns (the tiny slots are 128-256 wide): tile j of a slot is columns 64j..64j+63 of
    its basis as the file holds it, and every CPU path gives the spec's LoRA from them."""
    from safetensors.torch import load_file

    monkeypatch.setattr(basis, "TILE_WIDTH", 64)
    model = hl.load_hyperlora(tiny_checkpoint, **TINY_HEADS)
    bank = model._banks["id"]
    assert any(g.tiles > 1 for g in bank.groups)
    stored = load_file(str(tiny_checkpoint / "hyper_lora_modules.safetensors"))
    for group in bank.groups:
        assert group.data.shape == (len(group.slots) * group.tiles, bank.num_basis, group.tile)
        for g, (i, proj, role) in enumerate(group.slots):
            want = stored[f"{i}.{proj}.id_{role}_basis"].reshape(bank.num_basis, -1)
            for j in range(group.tiles):
                assert torch.equal(group.data[g * group.tiles + j], want[:, j * group.tile:(j + 1) * group.tile])
    coeff = torch.nn.functional.normalize(torch.randn(model.config.num_queries, model.config.num_basis), dim=-1)
    ours = hl.kohya_state_dict([(model.lora_factors(coeff, cpu_path=path), 1.0)])
    ref = reference.kohya_lora(tiny_checkpoint, coeff, "id")
    for key, want in ref.items():
        if key.endswith("weight"):
            assert_relative(ours[key], want.double(), 1e-6 if path == "fp32_chunks" else HALF_ROUNDING)


def test_tiled_bases_stream_through_the_workspace_exactly(tiny_checkpoint, monkeypatch):
    """Policy auto on tiled bases (a CPU model asked for a LoRA on another device): the streamed slices
    are whole tiles, each with its slot's coefficients."""
    from hyperlora_core.engine.basis import combine_groups

    monkeypatch.setattr(basis, "TILE_WIDTH", 64)
    model = hl.load_hyperlora(tiny_checkpoint, **TINY_HEADS)
    coeff = torch.nn.functional.normalize(torch.randn(model.config.num_queries, model.config.num_basis), dim=-1)
    bank = model._banks["id"]
    exact_rows = combine_groups(bank, coeff, torch.device("cpu"), cpu_path="fp32_chunks")
    streamed = combine_gpu.combine_streamed([coeff.index_select(0, g.row_index()) for g in bank.groups],
                                            [g.data for g in bank.groups], torch.device("cpu"))
    for want, got, group in zip(exact_rows, streamed, bank.groups):
        assert_relative(got.view(len(group.slots), -1), want.double(), HALF_ROUNDING)
    tiled_shapes = [(len(g.slots) * g.tiles, bank.num_basis, g.tile) for g in bank.groups]
    assert model.streaming_bytes() == combine_gpu.streaming_bytes(tiled_shapes, 2)


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


def fresh_plans(monkeypatch, slice_floor=1 << 12):
    monkeypatch.setattr(combine_cpu, "_PLANS", {})
    monkeypatch.delenv(combine_cpu.ENV_OVERRIDE, raising=False)
    monkeypatch.setattr(combine_cpu, "MIN_PLAN_BYTES", 1 << 12)
    monkeypatch.setattr(combine_cpu, "PLAN_SLICE_BYTES", slice_floor)


def recording(seconds_per_byte: dict[str, float]):
    """A measurement that takes no time: each path costs its given seconds per byte; calls are logged."""
    calls = []

    def measure(name, coeff, data):
        calls.append((name, data.data_ptr(), data.numel() * data.element_size(), coeff.shape[0]))
        return seconds_per_byte[name] * data.numel() * data.element_size()
    return measure, calls


@pytest.mark.parametrize("fastest", ["fused", "fp32_chunks", "native_bmm"])
def test_plan_keeps_the_path_the_measurement_says_is_fastest(monkeypatch, fastest):
    fresh_plans(monkeypatch)
    monkeypatch.setattr(combine_cpu, "native_half_matmul", lambda dtype: True)
    costs = {name: (1.0 if name == fastest else 1.5) * 1e-9 for name in combine_cpu.CPU_PATHS}
    measure, calls = recording(costs)
    groups = [random_group(64, 16, 256), random_group(4, 16, 64, seed=1)]
    plan = combine_cpu.cpu_plan(groups, torch.float16, cache_bytes=1 << 14, measure=measure)
    assert plan.path == fastest
    timed = [c for c in calls if c[3] > 1]  # the warm-ups run on one slot
    assert sorted(c[0] for c in timed) == sorted(list(combine_cpu.CPU_PATHS) * combine_cpu.PLAN_ROUNDS)
    assert fastest in plan.reason and "last-level cache" in plan.reason


@pytest.mark.parametrize("cache_kb, slots_per_call", [(16, 4), (64, 16), (1 << 20, 64)])
def test_timed_slices_are_twice_the_last_level_cache(monkeypatch, cache_kb, slots_per_call):
    """Slots of 8 KB: a 16 KB cache is timed on 32 KB slices (4 slots), a 64 KB one on 128 KB; a cache
    larger than the group has the whole group timed."""
    fresh_plans(monkeypatch)
    measure, calls = recording({name: 1e-9 for name in combine_cpu.CPU_PATHS})
    plan = combine_cpu.cpu_plan([random_group(64, 16, 256)], torch.float16, cache_bytes=cache_kb << 10,
                                measure=measure)
    timed = [c for c in calls if c[3] > 1]
    assert {c[3] for c in timed} == {slots_per_call}
    assert plan.slice_bytes == slots_per_call * 16 * 256 * 2


def test_each_timed_call_reads_bytes_no_earlier_call_touched(monkeypatch):
    fresh_plans(monkeypatch)
    measure, calls = recording({name: 1e-9 for name in combine_cpu.CPU_PATHS})
    coeff, data = random_group(64, 16, 256)
    combine_cpu.cpu_plan([(coeff, data)], torch.float16, cache_bytes=8 << 10, measure=measure)
    timed = [(ptr, ptr + size) for _, ptr, size, rows in calls if rows > 1]
    assert len(timed) == 2 * combine_cpu.PLAN_ROUNDS
    for (a0, a1), (b0, b1) in itertools.combinations(timed, 2):
        assert a1 <= b0 or b1 <= a0  # 6 calls of 16 KB in a 512 KB group: all disjoint
    assert all(data.data_ptr() <= a0 and a1 <= data.data_ptr() + data.numel() * 2 for a0, a1 in timed)


def test_timed_samples_walk_through_the_whole_bank_before_reading_a_byte_again():
    """Groups of 3 and 4 slots of 100 bytes, samples of 250 bytes: 3 slots each, across groups, wrapping
    only at the end of the bank."""
    samples = combine_cpu.plan_samples([(3, 100), (4, 100)], slice_bytes=250, samples=5)
    assert samples == [[(0, 0, 3)], [(1, 0, 3)], [(1, 3, 4), (0, 0, 2)], [(0, 2, 3), (1, 0, 2)], [(1, 2, 4), (0, 0, 1)]]
    assert combine_cpu.plan_samples([(2, 100)], 10_000, 2) == [[(0, 0, 2)], [(0, 0, 2)]]  # a bank smaller than a sample
    assert combine_cpu.plan_samples([(2, 1000)], 10, 3) == [[(0, 0, 1)], [(0, 1, 2)], [(0, 0, 1)]]  # a slot at least
    # a group of empty slots (no bytes) is stepped over, not waited on forever
    assert combine_cpu.plan_samples([(2, 0), (3, 100)], 150, 2) == [[(1, 0, 2)], [(1, 2, 3), (1, 0, 1)]]


def test_samples_span_groups_when_the_largest_is_smaller_than_a_sample(monkeypatch):
    """Four 64 KB groups and a 48 KB cache: each timed sample is 96 KB, a whole group and half the next."""
    fresh_plans(monkeypatch)
    measure, calls = recording({name: 1e-9 for name in combine_cpu.CPU_PATHS})
    groups = [random_group(8, 16, 256, seed=i) for i in range(4)]
    plan = combine_cpu.cpu_plan(groups, torch.float16, cache_bytes=48 << 10, measure=measure)
    timed = calls[len(combine_cpu.candidates(torch.float16)):]  # after one warm-up call per candidate
    assert plan.slice_bytes == 96 << 10
    assert [size for _, _, size, _ in timed[:2]] == [64 << 10, 32 << 10]
    assert sum(size for _, _, size, _ in timed) == len(combine_cpu.candidates(torch.float16)) * \
        combine_cpu.PLAN_ROUNDS * (96 << 10)
    assert {g[1].data_ptr() for g in groups} <= {ptr for _, ptr, _, _ in timed}  # every group was read


def test_unknown_cache_is_taken_as_large(monkeypatch):
    assert combine_cpu.plan_slice_bytes(None) == combine_cpu.CACHE_MULTIPLE * combine_cpu.UNKNOWN_CACHE_BYTES
    assert combine_cpu.plan_slice_bytes(0) == combine_cpu.PLAN_SLICE_BYTES
    assert combine_cpu.plan_slice_bytes(100 << 20) == combine_cpu.CACHE_MULTIPLE * (100 << 20)


def write_cache(root, cpu, index, level, kind, size, shared):
    folder = root / f"cpu{cpu}" / "cache" / f"index{index}"
    folder.mkdir(parents=True)
    for name, value in (("level", level), ("type", kind), ("size", size), ("shared_cpu_list", shared)):
        (folder / name).write_text(f"{value}\n")


def test_last_level_cache_counts_each_shared_instance_once(tmp_path):
    """Four CPUs in two L3 domains of 32 MB (Zen CCXs): 64 MB in all; the private L2s and the
    instruction caches do not count."""
    for cpu in range(4):
        write_cache(tmp_path, cpu, 0, 1, "Data", "32K", str(cpu))
        write_cache(tmp_path, cpu, 1, 1, "Instruction", "32K", str(cpu))
        write_cache(tmp_path, cpu, 2, 2, "Unified", "1024K", str(cpu))
        write_cache(tmp_path, cpu, 3, 3, "Unified", "32768K", "0-1" if cpu < 2 else "2-3")
    assert combine_cpu.last_level_cache_bytes(tmp_path, allowed={0, 1, 2, 3}) == 64 << 20
    assert combine_cpu.last_level_cache_bytes(tmp_path, allowed={2, 3}) == 32 << 20  # only the CPUs we run on


def test_last_level_cache_reads_megabyte_sizes_and_says_when_unknown(tmp_path):
    write_cache(tmp_path, 0, 0, 2, "Unified", "2048K", "0")
    write_cache(tmp_path, 0, 1, 3, "Unified", "480M", "0")
    assert combine_cpu.last_level_cache_bytes(tmp_path, allowed={0}) == 480 << 20
    assert combine_cpu.last_level_cache_bytes(tmp_path / "nothing", allowed={0}) is None


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
