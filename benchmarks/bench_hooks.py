"""What scheduled and regional identities cost: our activation-space path against core hooks and plain Apply.

    COMFYUI_PATH=/path/to/ComfyUI python benchmarks/bench_hooks.py [--unet tiny|sdxl] [--steps N] [--size PX]
        [--repeat N] [--cases TEXT ...]

Runs real ComfyUI sampling (KSampler's common_ksampler, euler, cfg 4) on an SDXL-shaped UNet with random
weights, with identities from a matching synthetic HyperLoRA checkpoint, three ways:

* plain Apply (`add_patches` on a clone): one identity everywhere, the baseline of every ratio;
* core hooks (`comfy.hooks` WeightHooks holding our LoRAAdapters, keyframes, masks, default conds): how the
  previous Apply to Conditioning worked, and what core's hook nodes do;
* ours (HyperLoRA Apply to Conditioning): identities on the model, per-row low-rank paths, no hooks.

For each case it counts UNet calls per step and the rows they carry (a wrapper around the UNet function),
times a step (cases in turn, round after round, best of `--repeat`) two ways: the whole run divided by the steps,
and the steady state (steps 2 to N-1, from the starts of their first UNet calls: without the first step, which
loads the model and, for Apply, patches its weights once), and measures the peak RAM of a fresh process that
runs the case once (ru_maxrss from wait4).

Two UNets: `tiny` (default; the integration tests' 8 M-parameter UNet at 1/10 of SDXL's width, rank-4
identities) makes the UNet cheap, so the counts transfer and the times say what the bookkeeping costs; but a
LoRA path there is as wide as the layer it adds to, so time ratios to Apply overstate every per-row path.
`sdxl` is SDXL's own architecture (ComfyUI's SDXL config: widths 320/640/1280, 70 transformer blocks, 2.6 B
parameters, about 10.4 GB in fp32) with random weights and rank-8 identities as released, so the ratios
are those of the real model; it takes minutes per case and no peak-RAM processes (each would build the
model again).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "Apply: add_patches (one identity, whole image)"


def import_comfyui():
    path = os.environ.get("COMFYUI_PATH")
    if not path:
        sys.exit("Set COMFYUI_PATH to a ComfyUI checkout (0.3.64 or 0.14.1 tested).")
    sys.path.insert(0, str(ROOT))
    import tests.integration.tiny_models  # noqa: F401  (ours, before ComfyUI's own tests/ package is on the path)

    sys.path.insert(0, path)  # before the repo root, whose nodes/ would shadow ComfyUI's nodes.py
    from comfy.cli_args import args

    args.cpu = True
    import comfy.model_management  # noqa: F401  (after args.cpu)

    import nodes

    return nodes


def load_pack(nodes):
    """Our nodes, loaded the way ComfyUI loads a custom node folder."""
    import asyncio

    import folder_paths

    base = Path(tempfile.mkdtemp(prefix="bench_hooks_"))
    (base / "custom_nodes").mkdir()
    (base / "custom_nodes" / "comfyui-hyperlora").symlink_to(ROOT, target_is_directory=True)
    folder_paths.set_output_directory(str(base / "output"))
    asyncio.run(nodes.load_custom_node(str(base / "custom_nodes" / "comfyui-hyperlora")))
    from tests.comfy_standin import V1Call  # called as ComfyUI's executor calls a V3 node

    return {key: V1Call(cls) for key, cls in nodes.NODE_CLASS_MAPPINGS.items()}, base


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


def cases(classes, model, people, size: int):
    """(name, model, positive, negative) of every case."""
    import comfy.hooks

    (a, fa), (b, fb) = people
    gen = torch.Generator().manual_seed(0)
    pos = [[torch.randn(1, 77, 2048, generator=gen), {"pooled_output": torch.randn(1, 1280, generator=gen)}]]
    neg = [[torch.zeros(1, 77, 2048), {"pooled_output": torch.zeros(1, 1280)}]]
    left = torch.zeros(1, size, size)
    left[:, :, : size // 2] = 1.0
    third = torch.zeros(1, size, size)
    third[:, :, : size // 3] = 1.0
    last = torch.zeros(1, size, size)
    last[:, :, 2 * size // 3:] = 1.0
    place = classes["HyperLoRAApplyConditioning"].apply

    yield PLAIN, model.clone(), pos, neg
    (patched,) = classes["HyperLoRAApply"].apply(model, a, 0.8, 0.0)
    yield BASELINE, patched, pos, neg

    yield "core hooks: window 0-0.5 (timesteps_range)", model.clone(), *_hooked_window(comfy.hooks, pos, neg, fa)
    pa, na = comfy.hooks.set_conds_props([pos, neg], 1.0, "default", mask=third, hooks=hook_group(fa, 0.8))
    pb, nb = comfy.hooks.set_conds_props([pos, neg], 1.0, "default", mask=last, hooks=hook_group(fb, 0.8))
    p, n = comfy.hooks.set_default_conds_and_combine(
        [comfy.hooks.combine_conditioning([pa, pb]), comfy.hooks.combine_conditioning([na, nb])], [pos, neg])
    yield "core hooks: A left third, B right third, background", model.clone(), p, n
    pa, na = comfy.hooks.set_conds_props([pos, neg], 1.0, "default", mask=left, hooks=hook_group(fa, 0.8))
    pb, nb = comfy.hooks.set_conds_props([pos, neg], 1.0, "default", mask=1.0 - left, hooks=hook_group(fb, 0.8))
    p, n = comfy.hooks.set_default_conds_and_combine(
        [comfy.hooks.combine_conditioning([pa, pb]), comfy.hooks.combine_conditioning([na, nb])], [pos, neg])
    yield "core hooks: A left half, B right half (no background)", model.clone(), p, n
    pa, na = comfy.hooks.set_conds_props([pos, neg], 1.0, "default", mask=left)
    pb, nb = comfy.hooks.set_conds_props([pos, neg], 1.0, "default", mask=1.0 - left)
    p, n = comfy.hooks.combine_conditioning([pa, pb]), comfy.hooks.combine_conditioning([na, nb])
    yield "floor: plain model, two masked prompts (4 rows)", model.clone(), p, n

    p, n, m = place(model, pos, neg, a, 0.8, 0.0, 0.5)
    yield "ours: window 0-0.5", m, p, n
    p, n, m = place(model, pos, neg, a, 0.8, 0.0, 1.0, fade_in=0.3)
    yield "ours: whole run, fade_in 0.3", m, p, n
    p, n, m = place(model, pos, neg, a, 0.8, 0.0, 1.0, mask=left)
    yield "ours: A left half, background right", m, p, n
    p, n, m = place(model, pos, neg, a, 0.8, 0.0, 1.0, mask=third)
    p, n, m = place(m, p, n, b, 0.8, 0.0, 1.0, mask=last)
    yield EXACT_TWO, m, p, n
    p, n, m = place(model, pos, neg, a, 0.8, 0.0, 1.0, mask=third, region_mode="one pass")
    p, n, m = place(m, p, n, b, 0.8, 0.0, 1.0, mask=last, region_mode="one pass")
    yield ONE_PASS_TWO, m, p, n
    p, n, m = place(model, pos, neg, a, 0.8, 0.0, 1.0, mask=left)
    p, n, m = place(m, p, n, b, 0.8, 0.0, 1.0, mask=1.0 - left)
    yield "ours: A left half, B right half (no background)", m, p, n


EXACT_TWO = "ours: A left third, B right third, background"
ONE_PASS_TWO = "ours one pass: A left third, B right third, background"
PLAIN = "plain model, no identity"


def _hooked_window(hooks, pos, neg, factors):
    hooked = hooks.set_conds_props([pos, neg], 1.0, "default", hooks=hook_group(factors, 0.8),
                                   timesteps_range=(0.0, 0.5))
    plain = hooks.set_conds_props([pos, neg], 1.0, "default", timesteps_range=(0.5, 1.0))
    return tuple(hooks.combine_conditioning([h, u]) for h, u in zip(hooked, plain))


OUTPUTS: dict = {}  # the last run's final latent per case: one pass is compared with exact on these


class Counter:
    """UNet calls, the rows (batch) they carry, and when each step's first call started."""

    def __init__(self):
        self.calls = self.rows = 0
        self.step_starts: dict[float, float] = {}  # sigma -> time of its first UNet call

    def __call__(self, apply_model, params):
        self.calls += 1
        self.rows += params["input"].shape[0]
        self.step_starts.setdefault(float(params["timestep"][0]), time.perf_counter())
        return apply_model(params["input"], params["timestep"], **params["c"])

    def steady_step(self) -> float:
        """Seconds per step from the second step's start to the last step's: without the first step, which also
        loads the model (and patches its weights for Apply), and without the end of sampling."""
        starts = sorted(self.step_starts.values())
        return (starts[-1] - starts[1]) / (len(starts) - 2) if len(starts) > 2 else float("nan")


def measure(nodes, all_cases, steps: int, size: int, repeat: int) -> dict[str, tuple[float, float, float, float]]:
    """Per case: UNet calls per step, rows per step, seconds per step of the whole run and in the steady state
    (steps 2 to N-1; each the best of `repeat`, cases in turn)."""
    latent = {"samples": torch.zeros(1, 4, size // 8, size // 8)}
    best = {name: (0.0, 0.0, float("inf"), float("inf")) for name, *_ in all_cases}
    OUTPUTS.clear()
    for _ in range(repeat):
        for name, model, positive, negative in all_cases:
            counter = Counter()
            model.set_model_unet_function_wrapper(counter)
            t0 = time.perf_counter()
            (out,) = nodes.common_ksampler(model, 42, steps, 4.0, "euler", "normal", positive, negative, latent)
            OUTPUTS[name] = out["samples"]
            seconds = (time.perf_counter() - t0) / steps
            best[name] = (counter.calls / steps, counter.rows / steps, min(best[name][2], seconds),
                          min(best[name][3], counter.steady_step()))
    return best


SDXL_WIDTHS = {  # ComfyUI's SDXL unet_config (comfy/model_detection.py), over the tiny one's shared keys
    "model_channels": 320, "transformer_depth": [0, 0, 2, 2, 10, 10], "transformer_depth_middle": 10,
    "transformer_depth_output": [0, 0, 0, 2, 2, 2, 10, 10, 10], "num_head_channels": 64,
}
RELEASED_RANK = 8  # ID-LoRA rank of the released checkpoints (hyperlora-format.md)


def setup(size: int, unet: str = "tiny"):
    nodes = import_comfyui()
    import hyperlora_core as hl
    from tests.integration.tiny_models import SDXL_CONFIG, build_unet, write_matching_checkpoint

    classes, base = load_pack(nodes)
    if unet == "sdxl":
        model = build_unet("SDXL", {**SDXL_CONFIG, **SDXL_WIDTHS}, fan_in=True)
        folder = write_matching_checkpoint(base / "tiny", model, rank=RELEASED_RANK, num_basis=2)
        coefficient_scale = 0.03  # LoRA paths a few percent of the layers' outputs, as a trained identity's are
    else:
        model = build_unet("SDXL")
        folder = write_matching_checkpoint(base / "tiny", model)
        coefficient_scale = 1.0
    engine = hl.load_hyperlora(folder, heads=12, dim_head=64)
    import folder_paths

    folder_paths.add_model_folder_path("hyper_lora", str(base))
    (hyperlora,) = classes["HyperLoRACheckpointLoader"].load("tiny", "auto", "auto")
    gen = torch.Generator().manual_seed(1)
    shape = (engine.config.num_queries, engine.config.num_basis)
    people = []
    for _ in range(2):
        alpha = torch.nn.functional.normalize(torch.randn(shape, generator=gen), dim=-1) * coefficient_scale
        coefficients = sys.modules[classes["HyperLoRAApply"].node.__module__.rsplit(".", 1)[0] + ".types"].Coefficients(
            hyperlora, alpha, None)
        people.append((coefficients, coefficients.factors("id")))
    return nodes, classes, model, people


def run_one_case(name: str, steps: int, size: int) -> None:
    """--case NAME: run that case once in this fresh process (for its peak RAM; tiny UNet only)."""
    nodes, classes, model, people = setup(size)
    chosen = [c for c in cases(classes, model, people, size) if c[0] == name]
    measure(nodes, chosen, steps, size, 1)


def peak_ram(names: list[str], steps: int, size: int) -> dict[str, float]:
    """Peak resident memory (MiB) of a fresh process running each case once."""
    peaks = {}
    for name in names:
        process = subprocess.Popen([sys.executable, __file__, "--case", name, "--steps", str(steps), "--size",
                                    str(size)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        if status != 0:
            sys.exit(f"the case {name!r} failed in its own process (status {status})")
        peaks[name] = usage.ru_maxrss / 1024
    return peaks


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown")
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--size", type=int, default=256, help="image size in pixels (latent = size / 8)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--unet", choices=("tiny", "sdxl"), default="tiny",
                        help="tiny: the tests' 8 M-parameter UNet; sdxl: SDXL's architecture, random weights")
    parser.add_argument("--cases", nargs="+", metavar="TEXT",
                        help="only the cases whose name contains one of these texts (plain and Apply always run)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    if args.case:
        run_one_case(args.case, args.steps, args.size)
        return
    nodes, classes, model, people = setup(args.size, args.unet)
    state = model.model_state_dict()
    weights = sum(state[k].numel() for k in people[0][1].up)
    unet_size = sum(v.numel() for k, v in state.items() if k.startswith("diffusion_model."))
    rank = next(iter(people[0][1].down.values())).shape[0]
    all_cases = [case for case in cases(classes, model, people, args.size)
                 if case[0] in (PLAIN, BASELINE) or not args.cases or any(text in case[0] for text in args.cases)]
    import comfyui_version

    print(f"CPU: {cpu_model()}")
    print(f"ComfyUI {comfyui_version.__version__}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{args.unet} SDXL-shaped UNet ({unet_size / 1e6:.0f} M parameters), {len(people[0][1].up)} attention "
          f"weights ({weights / 1e6:.2f} M parameters), rank-{rank} identities; {args.steps} steps at {args.size} "
          f"px, cfg 4, euler; best of {args.repeat}")
    results = measure(nodes, all_cases, args.steps, args.size, args.repeat)
    peaks = (peak_ram([name for name, *_ in all_cases], args.steps, args.size) if args.unet == "tiny"
             else dict.fromkeys(results, float("nan")))
    apply_time, apply_steady = results[BASELINE][2], results[BASELINE][3]
    print(f"  {'case':56s} {'UNet calls/step':>15s} {'rows/step':>9s} {'ms/step':>8s} {'vs Apply':>8s} "
          f"{'steady ms/step':>14s} {'vs Apply':>8s} {'peak RAM MiB':>12s}")
    for name, (calls, rows, seconds, steady) in results.items():
        print(f"  {name:56s} {calls:15.1f} {rows:9.1f} {seconds * 1e3:8.1f} {seconds / apply_time:7.2f}x "
              f"{steady * 1e3:14.1f} {steady / apply_steady:7.2f}x {peaks[name]:12.0f}")
    if args.json:
        print(json.dumps({name: {"calls": c, "rows": r, "ms": s * 1e3, "vs_apply": s / apply_time,
                                 "steady_ms": st * 1e3, "steady_vs_apply": st / apply_steady,
                                 "peak_ram_mib": peaks[name]} for name, (c, r, s, st) in results.items()}))

    if EXACT_TWO not in OUTPUTS or ONE_PASS_TWO not in OUTPUTS:
        return
    exact, one_pass, plain = OUTPUTS[EXACT_TWO], OUTPUTS[ONE_PASS_TWO], OUTPUTS[PLAIN]
    diff, effect = (one_pass - exact).abs(), (exact - plain).abs()
    print(f"  one pass vs exact (final latent, two identities + background): mean |diff| {diff.mean():.4f}, max "
          f"{diff.max():.4f}; the identities' own effect (exact vs plain): mean {effect.mean():.4f}, max "
          f"{effect.max():.4f}; latent std {exact.std():.4f}")


if __name__ == "__main__":
    main()
