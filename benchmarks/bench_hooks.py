"""What scheduled and regional identities (ComfyUI weight hooks) cost against a plain Apply.

    COMFYUI_PATH=/path/to/ComfyUI python benchmarks/bench_hooks.py [--steps N] [--size PX] [--repeat N]

Runs real ComfyUI sampling (KSampler's common_ksampler, euler, cfg 4) on the tiny SDXL-shaped UNet of
the integration tests, with two identities from a matching synthetic HyperLoRA checkpoint. The hooks
are built with core `comfy.hooks` directly (WeightHook holding our LoRAAdapters, HookGroup,
keyframes, masks, default conds), the way the scheduled/regional nodes use them. For each case it
counts UNet calls per step (a wrapper around the UNet function) and patched-weight computations per
sampling run (calls of comfy.lora.calculate_weight), times a step, and gives the ratios against
Apply (add_patches on a clone).

The tiny UNet makes the UNet itself cheap and its weights small, so the counts are the transferable
figures; the time ratios understate the cost of recomputing full-size SDXL weights (955 M attention
parameters for all 560 weights, see bench_pipeline.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def import_comfyui():
    path = os.environ.get("COMFYUI_PATH")
    if not path:
        sys.exit("Set COMFYUI_PATH to a ComfyUI checkout (v0.3.64 tested): hooks are ComfyUI's own code.")
    sys.path.insert(0, str(ROOT))
    import tests.integration.tiny_models  # noqa: F401  (ours, before ComfyUI's own tests/ package is on the path)

    sys.path.insert(0, path)  # before the repo root, whose nodes/ would shadow ComfyUI's nodes.py
    from comfy.cli_args import args

    args.cpu = True
    import comfy.model_management  # noqa: F401  (after args.cpu)

    import nodes

    return nodes


def adapters(factors):
    from comfy.weight_adapter import LoRAAdapter

    return {key: LoRAAdapter(set(), (factors.up[key], factors.down[key], factors.alpha, None, None, None))
            for key in factors.up}


def hook_group(factors, strength: float, keyframes=None):
    """A HookGroup with one WeightHook carrying the identity's patches (no kohya name mapping)."""
    import comfy.hooks

    hook = comfy.hooks.WeightHook(strength_model=strength, strength_clip=0.0)
    hook.weights = adapters(factors)
    hook.need_weight_init = False
    group = comfy.hooks.HookGroup()
    group.add(hook)
    if keyframes:
        frames = comfy.hooks.HookKeyframeGroup()
        for value, start in keyframes:
            frames.add(comfy.hooks.HookKeyframe(value, start_percent=start, guarantee_steps=0 if start else 1))
        group.set_keyframes_on_hooks(frames)
    return group


def cases(model, factors_a, factors_b, size: int):
    """(name, model, positive, negative) of every case."""
    import comfy.hooks

    gen = torch.Generator().manual_seed(0)
    pos = [[torch.randn(1, 77, 2048, generator=gen), {"pooled_output": torch.randn(1, 1280, generator=gen)}]]
    neg = [[torch.zeros(1, 77, 2048), {"pooled_output": torch.zeros(1, 1280)}]]
    yield "plain model, no identity", model.clone(), pos, neg
    patched = model.clone()
    patched.add_patches(adapters(factors_a), 0.8)
    yield "Apply: add_patches (one identity)", patched, pos, neg
    p, n = comfy.hooks.set_conds_props([pos, neg], 1.0, "default", hooks=hook_group(factors_a, 0.8))
    yield "hook, always on (one identity)", model.clone(), p, n
    p, n = comfy.hooks.set_conds_props([pos, neg], 1.0, "default",
                                       hooks=hook_group(factors_a, 0.8, [(1.0, 0.0), (0.0, 0.5)]))
    yield "scheduled: first half of the steps (keyframes)", model.clone(), p, n
    hooked = comfy.hooks.set_conds_props([pos, neg], 1.0, "default", hooks=hook_group(factors_a, 0.8),
                                         timesteps_range=(0.0, 0.5))
    plain = comfy.hooks.set_conds_props([pos, neg], 1.0, "default", timesteps_range=(0.5, 1.0))
    p, n = (comfy.hooks.combine_conditioning([h, u]) for h, u in zip(hooked, plain))
    yield "scheduled: first half (timesteps_range, no keyframes)", model.clone(), p, n
    left = torch.zeros(1, size, size)
    left[:, :, : size // 2] = 1.0
    pa, na = comfy.hooks.set_conds_props([pos, neg], 1.0, "default", mask=left, hooks=hook_group(factors_a, 0.8))
    p, n = comfy.hooks.set_default_conds_and_combine([pa, na], [pos, neg])
    yield "regional: A left, default background on the right", model.clone(), p, n
    pb, nb = comfy.hooks.set_conds_props([pos, neg], 1.0, "default", mask=1.0 - left,
                                         hooks=hook_group(factors_b, 0.8))
    p, n = comfy.hooks.set_default_conds_and_combine(
        [comfy.hooks.combine_conditioning([pa, pb]), comfy.hooks.combine_conditioning([na, nb])], [pos, neg])
    yield "regional: A left, B right, default background", model.clone(), p, n


class Counters:
    """UNet calls (a wrapper around the UNet function) and patched-weight computations (calculate_weight)."""

    def __init__(self):
        import comfy.lora

        self.unet = self.weights = 0
        real = comfy.lora.calculate_weight

        def counting_weights(*args, **kwargs):
            self.weights += 1
            return real(*args, **kwargs)

        comfy.lora.calculate_weight = counting_weights  # looked up at call time by the patcher

    def unet_wrapper(self, apply_model, params):
        self.unet += 1
        return apply_model(params["input"], params["timestep"], **params["c"])


def measure(nodes, all_cases, steps: int, size: int, repeat: int) -> dict[str, tuple[float, float, float]]:
    """Per case: UNet calls per step, weight computations per run, seconds per step (best of `repeat`).

    The cases run in turn, round after round, so all see the same machine."""
    counters = Counters()
    latent = {"samples": torch.zeros(1, 4, size // 8, size // 8)}
    best = {name: (0.0, 0.0, float("inf")) for name, *_ in all_cases}
    for _ in range(repeat):
        for name, model, positive, negative in all_cases:
            model.set_model_unet_function_wrapper(counters.unet_wrapper)
            counters.unet = counters.weights = 0
            t0 = time.perf_counter()
            nodes.common_ksampler(model, 42, steps, 4.0, "euler", "normal", positive, negative, latent)
            seconds = (time.perf_counter() - t0) / steps
            best[name] = (counters.unet / steps, counters.weights, min(best[name][2], seconds))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--size", type=int, default=256, help="image size in pixels (latent = size / 8)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    nodes = import_comfyui()
    import hyperlora_core as hl
    from tests.integration.tiny_models import build_unet, write_matching_checkpoint

    model = build_unet("SDXL")
    with tempfile.TemporaryDirectory() as tmp:
        engine = hl.load_hyperlora(write_matching_checkpoint(Path(tmp) / "tiny", model), heads=12, dim_head=64)
        gen = torch.Generator().manual_seed(1)
        shape = (engine.config.num_queries, engine.config.num_basis)
        factors_a, factors_b = (engine.lora_factors(torch.nn.functional.normalize(torch.randn(shape, generator=gen),
                                                                                  dim=-1)) for _ in range(2))
    weights = sum(model.model_state_dict()[k].numel() for k in factors_a.up)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; tiny SDXL UNet, {len(factors_a.up)} "
          f"patched attention weights ({weights / 1e6:.2f} M parameters); {args.steps} steps at {args.size} px, "
          f"cfg 4, euler; best of {args.repeat}")
    results = measure(nodes, list(cases(model, factors_a, factors_b, args.size)), args.steps, args.size, args.repeat)
    _, weights_apply, time_apply = results["Apply: add_patches (one identity)"]
    print(f"  {'case':54s} {'UNet calls/step':>15s} {'weight computations/run':>23s} {'ms/step':>8s} {'vs Apply':>8s}")
    for name, (calls, weights, seconds) in results.items():
        print(f"  {name:54s} {calls:15.1f} {weights:11d} ({weights / max(weights_apply, 1):4.1f}x) "
              f"{seconds * 1e3:8.1f} {seconds / time_apply:7.2f}x")


if __name__ == "__main__":
    main()
