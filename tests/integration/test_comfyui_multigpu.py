"""Identities on core's multi-GPU sampling (ComfyUI 0.33: comfy.multigpu), run on the CPU.

Core's MultiGPU node deep-clones the model once per extra device; at every step the sampler splits the conds
over the devices and runs each device's share in a worker thread of its own, on that device's clone. Two CPU
devices stand in for two GPUs here ("cpu" and "cpu:1": distinct keys for core's scheduler, the same memory
for torch), so core's own scheduler, thread pool and deep clones run unchanged. Each identity must reach the
clone that computes its rows: the split run must equal the single-device run, and differ from the plain model.
"""

from __future__ import annotations

import threading

import pytest
import torch

from tests.integration.test_comfyui_control import BATCHED, columns_mask, ksampler, place
from tests.integration.test_comfyui_hooks import sampler_conds
from tests.integration.tiny_models import identity


@pytest.fixture
def two_devices(comfyui, monkeypatch):
    """core's MultiGPU setup for two devices, as its MultiGPU Work Units node makes it."""
    multigpu = pytest.importorskip("comfy.multigpu", reason="this ComfyUI has no multi-GPU sampling (before 0.33)")
    import comfy.model_management

    devices = [torch.device("cpu"), torch.device("cpu", 1)]
    monkeypatch.setattr(comfy.model_management, "get_all_torch_devices", lambda exclude_current=False: devices)
    comfy.model_management.unload_all_models()
    yield lambda model: multigpu.create_multigpu_deepclones(model, 2)
    comfy.model_management.unload_all_models()


def threads_and_devices(model):
    """Records, per UNet call, the thread and the clone's load device that ran it (core's wrapper slot)."""
    seen = []

    def wrapper(apply_model, args):
        seen.append((threading.current_thread().name, args["c"]["transformer_options"].get("multigpu_thread_device")))
        return apply_model(args["input"], args["timestep"], **args["c"])

    model.set_model_unet_function_wrapper(wrapper)
    return seen


def split_and_single(comfyui, two_devices, model, pos, neg, batch):
    single = ksampler(comfyui, model, pos, neg, steps=3, batch=batch)
    split_model = two_devices(model)
    assert len(split_model.get_additional_models_with_key("multigpu")) == 1  # one deep clone for "cpu:1"
    seen = threads_and_devices(split_model)
    split = ksampler(comfyui, split_model, pos, neg, steps=3, batch=batch)
    devices = {str(device) for _, device in seen}
    assert devices == {"cpu", "cpu:1"}, f"core did not split the conds over both devices: {seen}"
    assert any(name != threading.current_thread().name for name, _ in seen)  # worker threads ran UNet calls
    return single, split


def test_a_strength_sweep_reaches_every_device_clone(comfyui, node, tiny_sdxl, checkpoint, two_devices):
    positive, negative = sampler_conds()
    coefficients = identity(comfyui, node, seed=5)
    model, pos, neg = place(node, tiny_sdxl, positive, negative, coefficients, 0.8, strengths="0.6, 1.0, 1.4")
    single, split = split_and_single(comfyui, two_devices, model, pos, neg, batch=3)
    torch.testing.assert_close(split, single, **BATCHED)
    plain = ksampler(comfyui, tiny_sdxl, positive, negative, steps=3, batch=3)
    for image in range(3):  # every image carries its identity on the split run
        assert not torch.allclose(split[image], plain[image], atol=1e-3)


@pytest.mark.parametrize("region_mode", ["exact", "one pass"])
def test_regional_identities_reach_every_device_clone(comfyui, node, tiny_sdxl, checkpoint, two_devices,
                                                       region_mode):
    positive, negative = sampler_conds(seed=1)
    model, pos, neg = tiny_sdxl, positive, negative
    for seed, strength, columns in ((20, 0.9, [0, 1, 2]), (21, 0.7, [5, 6, 7])):
        model, pos, neg = place(node, model, pos, neg, identity(comfyui, node, seed=seed), strength,
                                mask=columns_mask(columns, batch=2), region_mode=region_mode)
    single, split = split_and_single(comfyui, two_devices, model, pos, neg, batch=2)
    torch.testing.assert_close(split, single, **BATCHED)
    plain = ksampler(comfyui, tiny_sdxl, positive, negative, steps=3, batch=2)
    assert not torch.allclose(split, plain, atol=1e-3)
