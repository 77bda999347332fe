"""Device policies, ComfyUI unloading the bases, and work not repeated when only a strength changes."""

import pytest
import torch

from tests.comfy_standin import TinyUNet, comfy, models_root  # noqa: F401
from tests.face_fixtures import tiny_clip_dir  # noqa: F401


@pytest.fixture
def memory(comfy):  # noqa: F811
    return comfy.pack.nodes.memory


def load(comfy, policy="auto"):  # noqa: F811
    (hyperlora,) = comfy.pack.NODE_CLASS_MAPPINGS["HyperLoRACheckpointLoader"]().load(
        "sdxl_tiny_fidelity", "auto", policy)
    return hyperlora


def some_coefficients(comfy, hyperlora, seed=0):  # noqa: F811
    gen = torch.Generator().manual_seed(seed)
    shape = (hyperlora.config.num_queries, hyperlora.config.num_basis)
    alpha = torch.nn.functional.normalize(torch.randn(shape, generator=gen), dim=-1)
    return comfy.pack.nodes.types.Coefficients(hyperlora, alpha, None)


def test_auto_computes_on_the_gpu_only_when_the_bases_fit(comfy, memory):  # noqa: F811
    mm = comfy.model_management
    mm.get_torch_device = lambda: torch.device("cuda", 0)
    gib = 1 << 30
    mm.free_memory = 1 * gib  # SDXL loaded on an 8 GB card
    assert memory.compute_device("auto", 3 * gib) == torch.device("cpu")
    mm.free_memory = 6 * gib
    assert memory.compute_device("auto", 3 * gib) == torch.device("cuda", 0)
    assert memory.compute_device("cpu", 0) == torch.device("cpu")
    mm.free_memory = 0
    assert memory.compute_device("gpu", 3 * gib) == torch.device("cuda", 0)
    assert memory.storage_device("auto") == memory.storage_device("cpu") == torch.device("cpu")
    assert memory.storage_device("gpu") == torch.device("cuda", 0)


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
    apply = comfy.pack.NODE_CLASS_MAPPINGS["HyperLoRAApply"]()
    apply.apply(model, coefficients, 0.8, 0.0)
    apply.apply(model, coefficients, 0.5, 0.0)
    apply.apply(model, coefficients, 1.1, 0.0)
    assert len(calls) == 1


def test_the_strength_is_an_input_of_the_patching_nodes_only(comfy):  # noqa: F811
    for key, node in comfy.pack.NODE_CLASS_MAPPINGS.items():
        spec = node.INPUT_TYPES()
        names = {**spec["required"], **spec.get("optional", {})}
        has_strength = any(name.endswith("strength") and name != "recommended_strength" for name in names)
        hooks = key in ("HyperLoRAApplyConditioning", "HyperLoRAIdentityHook")  # they patch when sampling
        assert has_strength == (node.RETURN_TYPES == ("MODEL",) or key == "HyperLoRAExportLoRA" or hooks), key
