"""Scheduled and regional identities under ComfyUI's dynamic VRAM (run by benchmarks/gpu_check.sh).

    COMFYUI_PATH=/path/to/ComfyUI-0.14.1 /path/to/its/venv/bin/python benchmarks/gpu_dynamic_vram.py [--tiny]

Dynamic VRAM (comfy-aimdo, `--fast dynamic_vram`, the default on NVIDIA since ComfyUI ~0.15) needs CUDA. This
turns it on the way ComfyUI's main.py does (comfy-aimdo on the CUDA device, ModelPatcherDynamic as the core
patcher, its allocator's memory pool around sampling as execution.py uses it), builds an SDXL-shaped UNet in
fp16 (full size by default: about 2.6 B parameters; `--tiny` for the integration tests' small one), and samples
with identities placed by HyperLoRA Apply to Conditioning: one masked, two masked (exact), two masked in one pass,
and a strength sweep (a batch of 3 at 0.6/0.8/1.0). It checks, for each:

- the model stays dynamic: every UNet load is of a ModelPatcherDynamic, and no non-dynamic delegate is made
  (`get_non_dynamic_delegate`, newer core) or raised about (0.14.1: "Hooks not implemented");
- the result equals the same run on the classic ModelPatcher (the same weights) within fp16 rounding;
- as a control that these checks can fail: the identity through core hooks (Identity Hook) is demoted or refused.

It prints the VRAM peak and time per step of each case. Without CUDA or comfy-aimdo it says that nothing was
measured and exits 0 (the CPU cannot run dynamic VRAM); `--cpu-smoke` then runs the same flow with classic
patchers on the CPU (tiny UNet), to check the script itself before a GPU is lent. Exit code 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
failures: list[str] = []


def check(name: str, ok: bool, detail: str) -> None:
    print(f"  [{'ok' if ok else 'FAIL'}] {name}: {detail}", flush=True)
    if not ok:
        failures.append(name)


def import_comfyui() -> bool:
    """ComfyUI on the path with dynamic VRAM requested; True when comfy-aimdo took the CUDA device."""
    path = os.environ.get("COMFYUI_PATH")
    if not path:
        sys.exit("Set COMFYUI_PATH to a ComfyUI of 0.14.1 or newer (with comfy-aimdo installed).")
    sys.path.insert(0, str(ROOT))
    import tests.integration.tiny_models  # noqa: F401  (ours, before ComfyUI's own tests/ package)

    sys.path.insert(0, path)
    from comfy.cli_args import PerformanceFeature, args

    if not torch.cuda.is_available():
        args.cpu = True
        return False
    args.fast = {PerformanceFeature.DynamicVRAM}
    import comfy.memory_management
    import comfy.model_management
    import comfy.model_patcher

    try:
        import comfy_aimdo.control
        import comfy_aimdo.torch
    except ImportError:
        return False
    if not hasattr(comfy.model_patcher, "ModelPatcherDynamic") or not comfy_aimdo.control.init_device(
            comfy.model_management.get_torch_device().index):
        return False
    comfy.model_patcher.CoreModelPatcher = comfy.model_patcher.ModelPatcherDynamic  # as main.py does
    comfy.memory_management.aimdo_allocator = comfy_aimdo.torch.get_torch_allocator()
    return True


def load_pack():
    import folder_paths

    import nodes

    base = Path(tempfile.mkdtemp(prefix="gpu_dynamic_vram_"))
    (base / "custom_nodes").mkdir()
    (base / "custom_nodes" / "comfyui-hyperlora").symlink_to(ROOT, target_is_directory=True)
    folder_paths.set_output_directory(str(base / "output"))
    asyncio.run(nodes.load_custom_node(str(base / "custom_nodes" / "comfyui-hyperlora")))
    return nodes, base


def build_base_models(tiny: bool):
    """Two SDXL BaseModels in fp16 with the same random weights (full-size config unless tiny): core supports no
    dynamic and classic patcher on one model, and a BaseModel cannot be deep-copied."""
    import comfy.supported_models

    from tests.integration.tiny_models import SDXL_CONFIG

    def make():
        unet = dict(SDXL_CONFIG) if tiny else dict(comfy.supported_models.SDXL.unet_config)
        config = comfy.supported_models.SDXL(unet)
        config.set_inference_dtype(torch.float16, None)
        return config.get_model({}).to(torch.float16)

    first, second = make(), make()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in first.diffusion_model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
    second.load_state_dict(first.state_dict())
    return first, second


class Watch:
    """Which patchers ComfyUI loads, and whether a non-dynamic delegate of a dynamic model is made."""

    def __init__(self):
        import comfy.model_management
        import comfy.model_patcher

        self.loaded, self.delegates = [], 0
        real_load = comfy.model_management.load_models_gpu

        def load_models_gpu(models, *args, **kwargs):
            self.loaded += [type(m).__name__ for m in models]
            return real_load(models, *args, **kwargs)

        comfy.model_management.load_models_gpu = load_models_gpu
        real_delegate = getattr(comfy.model_patcher.ModelPatcher, "get_non_dynamic_delegate", None)
        if real_delegate is not None:
            def delegate(patcher, *args, **kwargs):
                self.delegates += 1
                return real_delegate(patcher, *args, **kwargs)

            comfy.model_patcher.ModelPatcher.get_non_dynamic_delegate = delegate

    def reset(self):
        self.loaded, self.delegates = [], 0


def pool():
    import comfy.memory_management

    allocator = comfy.memory_management.aimdo_allocator
    return contextlib.nullcontext() if allocator is None else torch.cuda.use_mem_pool(
        torch.cuda.MemPool(allocator.allocator()))


def sample(nodes, model, positive, negative, steps: int, size: int, batch: int = 1):
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    with pool() if cuda else contextlib.nullcontext():
        (out,) = nodes.common_ksampler(model, 7, steps, 4.0, "euler", "normal", positive, negative,
                                       {"samples": torch.zeros(batch, 4, size // 8, size // 8)})
    if cuda:
        torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() / 2 ** 30 if cuda else float("nan")
    return out["samples"], (time.perf_counter() - start) / steps, peak


def identities(classes, base: Path, unet_patcher, count: int):
    import folder_paths

    from tests.integration.tiny_models import write_matching_checkpoint

    write_matching_checkpoint(base / "hyper_lora" / "variant", unet_patcher)
    folder_paths.add_model_folder_path("hyper_lora", str(base / "hyper_lora"))
    (hyperlora,) = classes["HyperLoRACheckpointLoader"].load("variant", "auto", "auto")
    types = sys.modules[classes["HyperLoRAApply"].node.__module__.rsplit(".", 1)[0] + ".types"]
    gen = torch.Generator().manual_seed(1)
    shape = (hyperlora.config.num_queries, hyperlora.config.num_basis)
    return [types.Coefficients(hyperlora, torch.nn.functional.normalize(torch.randn(shape, generator=gen), dim=-1),
                               None) for _ in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="the integration tests' small UNet instead of SDXL's")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--cpu-smoke", action="store_true", help="without CUDA: run the flow on the CPU, unmeasured")
    args = parser.parse_args()
    dynamic = import_comfyui()
    if not dynamic:
        print("dynamic VRAM: not measured (needs CUDA and comfy-aimdo in ComfyUI 0.14.1 or newer; this machine has "
              f"{'no CUDA' if not torch.cuda.is_available() else 'no working comfy-aimdo'})")
        if not args.cpu_smoke:
            return 0
        args.tiny, args.size, args.steps = True, 128, 3
    import comfy.model_management
    import comfy.model_patcher

    nodes, base = load_pack()
    from tests.comfy_standin import V1Call  # called as ComfyUI's executor calls a V3 node

    classes = {key: V1Call(cls) for key, cls in nodes.NODE_CLASS_MAPPINGS.items()}
    device = comfy.model_management.get_torch_device()
    print(f"{torch.cuda.get_device_name(device) if dynamic else 'CPU smoke run'}; ComfyUI at {os.environ['COMFYUI_PATH']}; "
          f"{'tiny' if args.tiny else 'full-size'} SDXL UNet in fp16, {args.steps} steps at {args.size} px")
    base_model, classic_model = build_base_models(args.tiny)
    dynamic_unet = comfy.model_patcher.CoreModelPatcher(base_model, load_device=device,
                                                         offload_device=torch.device("cpu"))
    classic_unet = comfy.model_patcher.ModelPatcher(classic_model, load_device=device,
                                                     offload_device=torch.device("cpu"))
    if dynamic:
        check("the UNet is dynamic", type(dynamic_unet).__name__ == "ModelPatcherDynamic", type(dynamic_unet).__name__)
    people = identities(classes, base, classic_unet, 2)
    gen = torch.Generator().manual_seed(0)
    positive = [[torch.randn(1, 77, 2048, generator=gen).half(), {"pooled_output": torch.randn(1, 1280).half()}]]
    negative = [[torch.zeros(1, 77, 2048).half(), {"pooled_output": torch.zeros(1, 1280).half()}]]
    latent = args.size // 8
    left, right = torch.zeros(1, latent, latent), torch.zeros(1, latent, latent)
    left[..., : latent // 3], right[..., 2 * latent // 3:] = 1.0, 1.0
    place = classes["HyperLoRAApplyConditioning"].apply
    one_pass = {"region_mode": "one pass"}
    cases = {  # name: (latent batch, [(identity, strength, start, end, options), ...])
        "1 identity": (1, [(people[0], 0.8, 0.0, 1.0, {"mask": left})]),
        "2 identities": (1, [(people[0], 0.8, 0.0, 1.0, {"mask": left}),
                             (people[1], 0.8, 0.2, 1.0, {"mask": right, "fade_in": 0.2})]),
        "2 identities, one pass": (1, [(people[0], 0.8, 0.0, 1.0, {"mask": left, **one_pass}),
                                       (people[1], 0.8, 0.0, 1.0, {"mask": right, **one_pass})]),
        "strength sweep 0.6/0.8/1.0": (3, [(people[0], 1.0, 0.0, 1.0, {"strengths": "0.6, 0.8, 1.0"})]),
    }
    watch = Watch()
    for case, (batch, placements) in cases.items():
        results = {}
        for name, unet in (("dynamic", dynamic_unet), ("classic", classic_unet)):
            model, pos, neg = unet, positive, negative
            for person, strength, start, end, options in placements:
                pos, neg, model = place(model, pos, neg, person, strength, start, end, **options)
            watch.reset()
            results[name] = sample(nodes, model, pos, neg, args.steps, args.size, batch)
            if name == "dynamic" and dynamic:
                loads = sorted(set(watch.loaded))
                check(f"{case}: the model stays dynamic", watch.delegates == 0 and
                      "ModelPatcher" not in loads, f"loaded {loads}, non-dynamic delegates {watch.delegates}")
            comfy.model_management.unload_all_models()
        (dyn, dyn_s, dyn_gib), (cls, cls_s, cls_gib) = results["dynamic"], results["classic"]
        error = float((dyn.float() - cls.float()).abs().max() / cls.float().abs().max().clamp_min(1e-6))
        check(f"{case}: dynamic equals classic", error < 2e-2 and bool(torch.isfinite(dyn).all()),
              f"max relative difference {error:.2e}")
        print(f"    dynamic: {dyn_s * 1e3:.1f} ms/step, VRAM peak {dyn_gib:.2f} GiB; classic: {cls_s * 1e3:.1f} ms/step, "
              f"VRAM peak {cls_gib:.2f} GiB")
    (hooks,) = classes["HyperLoRAIdentityHook"].create(people[0], 0.8)
    from comfy_extras.nodes_hooks import PairConditioningSetProperties

    pos, neg = PairConditioningSetProperties().set_properties(positive, negative, 1.0, "default", hooks=hooks)
    watch.reset()
    try:
        sample(nodes, dynamic_unet, pos, neg, 2, args.size)
        refused = ""
    except RuntimeError as exc:
        refused = str(exc)
    demoted = watch.delegates > 0 or "ModelPatcher" in set(watch.loaded) or "Hooks not implemented" in refused
    if dynamic:
            check("control: core hooks demote or are refused under dynamic VRAM", demoted,
                  f"delegates {watch.delegates}, loaded {sorted(set(watch.loaded))}, error {refused[:80]!r}")
    print("dynamic VRAM:", "all checks passed" if not failures else f"FAILED: {', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
