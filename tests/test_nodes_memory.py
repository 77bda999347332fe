"""Device policies, ComfyUI unloading the bases, and work not repeated when only a strength changes."""

import pytest
import torch

from tests.comfy_standin import TinyUNet, comfy, comfy_dynamic_vram, models_root  # noqa: F401
from tests.face_fixtures import tiny_clip_dir  # noqa: F401


@pytest.fixture
def memory(comfy):  # noqa: F811
    return comfy.pack.nodes.memory


def load(comfy, policy="auto"):  # noqa: F811
    (hyperlora,) = comfy.node("HyperLoRACheckpointLoader").load(
        "sdxl_tiny_fidelity", "auto", policy)
    return hyperlora


def some_coefficients(comfy, hyperlora, seed=0):  # noqa: F811
    gen = torch.Generator().manual_seed(seed)
    shape = (hyperlora.config.num_queries, hyperlora.config.num_basis)
    alpha = torch.nn.functional.normalize(torch.randn(shape, generator=gen), dim=-1)
    return comfy.pack.nodes.types.Coefficients(hyperlora, alpha, None)


def released_streaming_bytes() -> int:
    """streaming_bytes() of the released checkpoints (140 modules, K = 128, rank 8, fp16): about 323 MB."""
    from hyperlora_core.engine.basis import bank_streaming_bytes, plan_bank
    from hyperlora_core.engine.checkpoint import ModuleSpec
    from tests.synthetic_checkpoint import sdxl_modules

    return bank_streaming_bytes(plan_bank("id", [ModuleSpec(*m) for m in sdxl_modules()], 128, 8), 2)


def test_auto_streams_on_the_gpu_when_it_has_room_for_the_stream_not_for_the_bases(comfy, memory):  # noqa: F811
    gpu, cpu, mib = torch.device("cuda", 0), torch.device("cpu"), 1 << 20
    stream = released_streaming_bytes()
    assert 256 * mib < stream < 400 * mib  # the 256 MB workspace plus the LoRA; the bases are 3 GB
    need = stream + memory.HEADROOM
    assert memory.choose_device("auto", gpu, 1 << 30, stream) == gpu  # SDXL loaded on an 8 GB card, 1 GB free
    assert memory.choose_device("auto", gpu, need, stream) == gpu
    assert memory.choose_device("auto", gpu, need - 1, stream) == cpu
    assert memory.choose_device("auto", gpu, None, stream) == gpu  # dynamic VRAM: ComfyUI frees on request
    assert memory.choose_device("auto", cpu, None, stream) == cpu  # no GPU at all
    assert memory.choose_device("cpu", gpu, 1 << 40, stream) == cpu
    assert memory.choose_device("gpu", gpu, 0, stream) == gpu
    assert memory.storage_device("auto") == memory.storage_device("cpu") == torch.device("cpu")
    mm = comfy.model_management
    mm.get_torch_device = lambda: gpu
    assert memory.storage_device("gpu") == gpu


def test_unloading_models_in_comfyui_frees_the_bases(comfy):  # noqa: F811
    hyperlora = load(comfy, "gpu")  # on this CPU-only stand-in, the "gpu" is ComfyUI's torch device
    assert hyperlora.engine.basis_bytes() > 0
    assert any(isinstance(m.model, comfy.pack.nodes.memory._BasesHandle) for m in comfy.model_management.loaded)
    before = some_coefficients(comfy, hyperlora).factors("id")
    comfy.model_management.unload_all_models()  # the "Unload models" button, or ComfyUI making room
    assert hyperlora.engine.basis_bytes() == 0
    after = some_coefficients(comfy, hyperlora).factors("id")  # read again from disk when needed
    assert hyperlora.engine.basis_bytes() > 0
    for key in before.up:
        torch.testing.assert_close(after.up[key], before.up[key])
        torch.testing.assert_close(after.down[key], before.down[key])


def test_only_the_strength_changing_reuses_the_lora_factors(comfy, monkeypatch):  # noqa: F811
    hyperlora = load(comfy)
    coefficients = some_coefficients(comfy, hyperlora)
    calls = []
    real = hyperlora.engine.lora_factors
    monkeypatch.setattr(hyperlora.engine, "lora_factors", lambda *a, **k: calls.append(a) or real(*a, **k))
    from tests.comfy_standin import ModelPatcher

    model = ModelPatcher(TinyUNet(real(coefficients.alpha)))
    apply = comfy.node("HyperLoRAApply")
    apply.apply(model, coefficients, 0.8, 0.0)
    apply.apply(model, coefficients, 0.5, 0.0)
    apply.apply(model, coefficients, 1.1, 0.0)
    assert len(calls) == 1


def test_the_strength_is_an_input_of_the_patching_nodes_only(comfy):  # noqa: F811
    for key, node in comfy.nodes.items():
        spec = node.INPUT_TYPES()
        names = {**spec["required"], **spec.get("optional", {})}
        has_strength = any(name.endswith("strength") and name != "recommended_strength" for name in names)
        hooks = key in ("HyperLoRAApplyConditioning", "HyperLoRAIdentityHook")  # they patch when sampling
        assert has_strength == (node.RETURN_TYPES == ["MODEL"] or key == "HyperLoRAExportLoRA" or hooks), key


# ---------------------------------------------------------------- dynamic VRAM (comfy-aimdo) and the classic mode

GIB = 1 << 30


def on_a_gpu(env, free, resident):
    """The stand-in as an 8 GB card with SDXL resident: `free` bytes free, `resident` bytes of SDXL weights."""
    mm = env.model_management
    mm.get_torch_device = lambda: torch.device("cuda", 0)
    mm.free_vram, mm.resident_vram = free, resident
    return mm


def fresh_load(env, policy):
    """Load the checkpoint anew (not the one an earlier test left in the loader's shared cache)."""
    env.pack.nodes.loaders._loaded.clear()
    return load(env, policy)


def record_compute(monkeypatch, hyperlora, fail_on_gpu=False):
    """Run the engine on the CPU (no GPU here) but record where the policy asked it to compute."""
    asked, real = [], hyperlora.engine.lora_factors

    def lora_factors(coefficients, kind="id", compute_device=None, make_room=None):
        asked.append((torch.device(compute_device), make_room))
        if fail_on_gpu and torch.device(compute_device).type == "cuda":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (stand-in)")
        return real(coefficients, kind, compute_device="cpu", make_room=make_room)

    monkeypatch.setattr(hyperlora.engine, "lora_factors", lora_factors)
    return asked, real


def test_dynamic_vram_auto_computes_on_the_gpu_freeing_only_what_streaming_needs(comfy_dynamic_vram,  # noqa: F811
                                                                                  monkeypatch):
    env = comfy_dynamic_vram
    mm = on_a_gpu(env, free=0, resident=6 * GIB)  # get_free_memory says "full", as under comfy-aimdo
    hyperlora = fresh_load(env, "auto")
    assert mm.load_calls == [] and mm.pushed_out == 0  # registering would have freed the inference reserve
    asked, real = record_compute(monkeypatch, hyperlora)
    coefficients = some_coefficients(env, hyperlora)
    factors = coefficients.factors("id")
    (device, make_room), = asked
    assert device == torch.device("cuda", 0) and make_room is not None
    need = hyperlora.engine.streaming_bytes() + env.pack.nodes.memory.HEADROOM
    assert mm.free_calls == [(need, torch.device("cuda", 0))]
    assert mm.pushed_out == need  # just what streaming takes, not the bases and not the reserve
    assert mm.pushed_out < mm.minimum_inference_memory
    assert mm.load_calls == []
    reference = real(coefficients.alpha, "id", compute_device="cpu")
    for key in reference.up:
        torch.testing.assert_close(factors.up[key], reference.up[key])
        torch.testing.assert_close(factors.down[key], reference.down[key])


def test_classic_mode_keeps_the_free_memory_check_and_registration(comfy, monkeypatch):  # noqa: F811
    mm = on_a_gpu(comfy, free=1 * GIB, resident=6 * GIB)
    hyperlora = fresh_load(comfy, "auto")
    assert len(mm.load_calls) == 1  # registered with the model manager, as on v0.3.64
    assert mm.pushed_out == pytest.approx(mm.minimum_inference_memory - 1 * GIB)  # its inference reserve
    mm.free_vram = 0  # SDXL loaded again for sampling
    asked, _ = record_compute(monkeypatch, hyperlora)
    some_coefficients(comfy, hyperlora).factors("id")
    assert asked[0] == (torch.device("cpu"), None)  # not enough reported free: the CPU, nothing freed
    mm.free_vram = hyperlora.engine.streaming_bytes() + comfy.pack.nodes.memory.HEADROOM
    some_coefficients(comfy, hyperlora, seed=1).factors("id")
    assert asked[1] == (torch.device("cuda", 0), None)  # room to stream the bases through: the GPU
    assert mm.pushed_out == pytest.approx(mm.minimum_inference_memory - 1 * GIB)  # nothing more freed


def test_dynamic_vram_out_of_memory_falls_back_to_the_cpu(comfy_dynamic_vram, monkeypatch, caplog):  # noqa: F811
    env = comfy_dynamic_vram
    on_a_gpu(env, free=0, resident=6 * GIB)
    hyperlora = fresh_load(env, "auto")
    asked, real = record_compute(monkeypatch, hyperlora, fail_on_gpu=True)
    coefficients = some_coefficients(env, hyperlora)
    factors = coefficients.factors("id")
    assert [device.type for device, _ in asked] == ["cuda", "cpu"]
    assert "making it on the CPU" in caplog.text
    reference = real(coefficients.alpha, "id", compute_device="cpu")
    torch.testing.assert_close(next(iter(factors.up.values())), next(iter(reference.up.values())))


def test_dynamic_vram_gpu_policy_still_reserves_its_vram(comfy_dynamic_vram, monkeypatch):  # noqa: F811
    env = comfy_dynamic_vram
    mm = on_a_gpu(env, free=0, resident=6 * GIB)
    monkeypatch.setattr(env.pack.nodes.loaders, "storage_device", lambda policy: torch.device("cpu"))
    hyperlora = fresh_load(env, "gpu")
    monkeypatch.setattr(hyperlora.engine, "device", torch.device("cuda", 0))  # the bases "live" in VRAM
    hyperlora._patcher = None
    hyperlora.register()
    assert len(mm.load_calls) == 1  # 3 GB really sit in VRAM: ComfyUI must know
    asked, _ = record_compute(monkeypatch, hyperlora)
    some_coefficients(env, hyperlora).factors("id")
    assert asked == [(torch.device("cuda", 0), None)]


def test_large_objects_report_their_size_to_the_ram_cache(comfy):  # noqa: F811
    from tests.comfy_standin import cache_ram_usage

    hyperlora = fresh_load(comfy, "auto")
    engine = hyperlora.engine
    small = sum(t.numel() * t.element_size() for w in engine._weights.values() for t in w.values())
    assert cache_ram_usage([hyperlora]) == engine.basis_bytes() + small
    coefficients = some_coefficients(comfy, hyperlora)
    assert cache_ram_usage((coefficients,)) == coefficients.alpha.numel() * 4  # the checkpoint is not counted
    factors = coefficients.factors("id")
    matrices = sum(t.numel() for d in (factors.up, factors.down) for t in d.values())
    assert cache_ram_usage((coefficients,)) == coefficients.alpha.numel() * 4 + matrices * 4
    comfy.model_management.unload_all_models()
    hyperlora.engine.release()
    assert cache_ram_usage([hyperlora]) == small


def test_face_conditioning_reports_its_tensors():
    from hyperlora_core.face.conditioning import FaceConditioning
    from tests.comfy_standin import cache_ram_usage

    arcface, clip = torch.zeros(2, 512), torch.zeros(2, 257, 32)
    face = FaceConditioning(arcface, clip, None, [], None, [], [0, 1])
    assert cache_ram_usage([face]) == (2 * 512 + 2 * 257 * 32) * 4
    face.base_clip_tokens = torch.zeros(2, 257, 32)
    assert cache_ram_usage([face]) == (2 * 512 + 2 * 2 * 257 * 32) * 4
