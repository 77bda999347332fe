"""Core engine benchmark on a full-size synthetic SDXL checkpoint (140 modules, K=128, rank 8, fp16).

    python benchmarks/bench_core.py [--cache DIR] [--repeat N] [--threads N] [--skip-cold-start]
    python benchmarks/bench_core.py --plan-check N [--threads N]

The ~3 GB checkpoint is generated once into the cache folder (default
~/.cache/hyperlora-bench, outside the repo). Every figure is printed as a ratio
against a baseline measured in the same run. Cold starts run in fresh
subprocesses so that peak RSS is measured honestly.

--plan-check N: N fresh processes, each loading the checkpoint, letting the engine choose its CPU
path (once per process, as in ComfyUI) and then timing every path on the whole combination; it
prints the chosen path against the fastest one measured, per run and in all.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hyperlora_core.engine.naming import PROJECTIONS

FULL = {"num_basis": 128, "rank": 8, "dim": 1024, "depth": 4, "heads": 12, "dim_head": 64, "ff_mult": 4, "embed_dim": 1024,
            "id_tokens": 16, "with_base": False, "dtype": torch.float16}


def ensure_checkpoint(cache: Path) -> Path:
    folder = cache / "sdxl_full_fp16"
    if not (folder / "resampler.safetensors").is_file():
        from tests.synthetic_checkpoint import sdxl_modules, write_synthetic_checkpoint

        print(f"generating the full-size synthetic checkpoint in {folder} (once) ...", flush=True)
        write_synthetic_checkpoint(folder.with_suffix(".tmp"), modules=sdxl_modules(), **FULL)
        folder.with_suffix(".tmp").rename(folder)
    return folder


def peak_rss_bytes() -> int:
    """VmHWM of this process (getrusage's maxrss survives exec, so it would include the parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def cpu_model() -> str:
    """The CPU's model name and core count (what the figures depend on)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} logical CPUs)"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} ({os.cpu_count()} logical CPUs)"


def coefficients(config) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.nn.functional.normalize(torch.randn(config["queries"], config["num_basis"], generator=gen), dim=-1)


# --- cold start, run in a child process ---------------------------------------------------------
def child_ours(folder: str) -> dict:
    import hyperlora_core as hl

    rss0 = peak_rss_bytes()
    t0 = time.perf_counter()
    model = hl.load_hyperlora(folder)
    t_load = time.perf_counter() - t0
    model.lora_factors(coefficients({"queries": model.config.num_queries, "num_basis": model.config.num_basis}))
    return {"seconds": time.perf_counter() - t0, "load_seconds": t_load, "peak_rss": peak_rss_bytes(),
            "rss_before": rss0}


def child_baseline(folder: str) -> dict:
    """The usual way: fp32 nn.Parameters, load_state_dict from a loaded file, then cast; per-layer LoRA."""
    from safetensors.torch import load_file

    rss0 = peak_rss_bytes()
    t0 = time.perf_counter()
    spec = json.loads((Path(folder) / "hyper_lora_modules.json").read_text())
    module = torch.nn.Module()
    for i, info in enumerate(spec.values()):
        for proj in PROJECTIONS:
            fan_in = info["cross_attention_dim"] if proj in ("to_k", "to_v") and info["cross_attention_dim"] else \
                info["hidden_size"]
            down = torch.nn.Parameter(torch.empty(128, fan_in, 8))
            up = torch.nn.Parameter(torch.empty(128, 8, info["hidden_size"]))
            torch.nn.init.kaiming_uniform_(down)
            torch.nn.init.kaiming_uniform_(up)
            module.register_parameter(f"p{i}_{proj}_down", down)
            module.register_parameter(f"p{i}_{proj}_up", up)
    sd = load_file(str(Path(folder) / "hyper_lora_modules.safetensors"))
    renamed = {f"p{k.split('.')[0]}_{k.split('.')[1]}_{k.split('.')[2].split('_')[1]}": v for k, v in sd.items()}
    module.load_state_dict(renamed)
    del sd, renamed
    module.half()
    t_load = time.perf_counter() - t0
    params = dict(module.named_parameters())
    per_layer_loop(params, coefficients({"queries": 8 * len(spec), "num_basis": 128}), len(spec))
    return {"seconds": time.perf_counter() - t0, "load_seconds": t_load, "peak_rss": peak_rss_bytes(),
            "rss_before": rss0}


def per_layer_loop(params: dict, coeff: torch.Tensor, num_modules: int) -> None:
    """One einsum per projection and matrix, in the bases' dtype (what a plain implementation does)."""
    c = coeff.to(next(iter(params.values())).dtype)
    with torch.inference_mode():
        for i in range(num_modules):
            for p, proj in enumerate(PROJECTIONS):
                torch.einsum("k,kir->ir", c[8 * i + 2 * p], params[f"p{i}_{proj}_down"])
                torch.einsum("k,kro->ro", c[8 * i + 2 * p + 1], params[f"p{i}_{proj}_up"])


def warm_page_cache(folder: Path) -> None:
    for path in folder.iterdir():
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass


def run_child(kind: str, folder: Path, threads: int = 0) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(folder), "--threads", str(threads)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- does the CPU path choice hold? --------------------------------------------------------------
PLAN_CHECK_ROUNDS = 3


def child_plan(folder: str) -> dict:
    """In a fresh process: the engine's choice, then every path timed on the whole combination.

    Candidates run interleaved, best of PLAN_CHECK_ROUNDS; a path the engine does not consider on this
    CPU (a half bmm without native support: ~30x slower here) is timed once, after them.
    """
    import hyperlora_core as hl
    from hyperlora_core.engine.basis import bank_cpu_plan
    from hyperlora_core.engine.combine_cpu import CPU_PATHS, candidates

    model = hl.load_hyperlora(folder)
    coeff = coefficients({"queries": model.config.num_queries, "num_basis": model.config.num_basis})
    t0 = time.perf_counter()
    plan = bank_cpu_plan(model._banks["id"], coeff)
    plan_seconds = time.perf_counter() - t0
    considered = candidates(model.dtype)
    runs = {p: (lambda p=p: model.lora_factors(coeff, cpu_path=p)) for p in considered}
    times = {k: min(v) for k, v in interleaved(runs, PLAN_CHECK_ROUNDS).items()}
    for path in CPU_PATHS:
        if path not in considered:
            times[path] = best_of(lambda p=path: model.lora_factors(coeff, cpu_path=p), 1)
    return {"path": plan.path, "reason": plan.reason, "plan_seconds": plan_seconds, "times": times}


def plan_check(folder: Path, runs: int, threads: int) -> int:
    print(f"{runs} fresh processes: the engine's choice against every path on the whole combination "
          f"(best of {PLAN_CHECK_ROUNDS}, interleaved; a path that is no candidate here: once)")
    held = 0
    for n in range(1, runs + 1):
        r = run_child("plan", folder, threads)
        times = r["times"]
        fastest = min(times, key=times.get)
        ratio = times[r["path"]] / times[fastest]
        held += ratio <= 1.1
        measured = ", ".join(f"{p} {t:.3f} s" for p, t in times.items())
        print(f"  run {n:2d}: chose {r['path']:11s} ({r['plan_seconds']:.2f} s to choose); whole combination: {measured}; "
              f"chosen / fastest = {ratio:.2f}x {'ok' if ratio <= 1.1 else 'MISSED'}", flush=True)
        if n == 1:
            print(f"          reason: {r['reason']}")
    print(f"chosen path within 1.1x of the fastest in {held} of {runs} runs")
    return held


# --- materialisation, in this process -----------------------------------------------------------
def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def interleaved(contenders: dict, repeat: int) -> dict[str, list[float]]:
    """Times of several functions run in turn, round after round, so all see the same machine."""
    times = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def materialisation(folder: Path, repeat: int) -> None:
    """Ours (tiled bases, the chosen path) against the read bound and the obvious alternatives.

    The alternatives get the layout they would have: whole slots stacked by shape (the stacked bmm
    and fused on it) or one tensor per layer (the per-layer loop), from a second, untiled copy of the
    bases (+3 GB of RAM while this runs).
    """
    import hyperlora_core as hl
    from hyperlora_core.engine import basis
    from hyperlora_core.engine.basis import bank_cpu_plan

    model = hl.load_hyperlora(folder)
    bank = model._banks["id"]
    coeff = coefficients({"queries": model.config.num_queries, "num_basis": model.config.num_basis})
    nbytes = bank.nbytes()
    plan = bank_cpu_plan(bank, coeff)
    print(f"CPU path chosen: {plan.path} -- {plan.reason}")
    tile_width, basis.TILE_WIDTH = basis.TILE_WIDTH, 0
    try:
        stacked = hl.load_hyperlora(folder)  # the layout before tiles: (G, K, a*b) per shape group
    finally:
        basis.TILE_WIDTH = tile_width

    def read_once():
        """The cheapest full pass over the bytes: an integer max (faster here than sum or copy)."""
        for g in bank.groups:
            g.data.view(torch.int16).max()

    params = {}
    for g in stacked._banks["id"].groups:
        a, b = g.matrix_shape
        for s, (i, proj, role) in enumerate(g.slots):
            params[f"p{i}_{proj}_{role}"] = g.data[s].view(-1, a, b)
    contenders = {"read the bases once (int16 max)": read_once,
                  f"ours (chosen path: {plan.path})": lambda: model.lora_factors(coeff)}
    for path in ("fused", "fp32_chunks"):
        if path != plan.path:
            contenders[f"path {path}"] = lambda p=path: model.lora_factors(coeff, cpu_path=p)
    contenders["fused on untiled slots"] = lambda: stacked.lora_factors(coeff, cpu_path="fused")
    contenders["stacked fp16 bmm per group"] = lambda: stacked.lora_factors(coeff, cpu_path="native_bmm")
    contenders["per-layer fp16 einsum loop"] = lambda: per_layer_loop(params, coeff, model.config.num_modules)
    slow = {"stacked fp16 bmm per group", "per-layer fp16 einsum loop"}
    fast = {k: v for k, v in contenders.items() if k not in slow}
    times = interleaved(fast, repeat)
    # The two obvious paths are 10-50x slower where half matmul is not native: fewer rounds, same run.
    times.update(interleaved({k: contenders[k] for k in slow}, max(1, min(repeat, 3))))
    best = {k: min(v) for k, v in times.items()}
    median = {k: statistics.median(v) for k, v in times.items()}
    ours = f"ours (chosen path: {plan.path})"
    t_read, t_ours = best["read the bases once (int16 max)"], best[ours]
    print(f"basis bytes in memory: {nbytes / 1e9:.2f} GB ({model.dtype}); best of {repeat} (median), interleaved")
    for name in times:
        line = f"  {name:38s} {best[name]:7.3f} s (median {median[name]:.3f})"
        if name.startswith("read"):
            line += f"  {nbytes / t_read / 1e9:.1f} GB/s"
        elif name.startswith("ours"):
            line += f"  = {t_ours / t_read:.2f}x the read-once time (target <= 1.5x)"
        else:
            line += f"  -> ours is {best[name] / t_ours:.2f}x faster (median {median[name] / median[ours]:.2f}x)"
        print(line)
    if torch.cuda.is_available():
        del model
        gpu_materialisation(stacked, coeff, repeat)  # on a GPU the bases keep whole slots


def gpu_materialisation(model, coeff, repeat: int) -> None:
    """On a GPU: bases resident in HBM, against the time to read those bytes once on the device."""
    bank = model._banks["id"]
    for g in bank.groups:
        g.data = g.data.cuda()
    nbytes = bank.nbytes()

    def sync(fn):
        def run():
            fn()
            torch.cuda.synchronize()
        return run

    def read_once():
        for g in bank.groups:
            g.data.sum(dtype=torch.float32)

    dev = torch.device("cuda")
    sync(lambda: model.lora_factors(coeff, compute_device=dev))()
    t_read = best_of(sync(read_once), repeat)
    t_ours = best_of(sync(lambda: model.lora_factors(coeff, compute_device=dev)), repeat)
    print(f"GPU {torch.cuda.get_device_name()}: read once {t_read * 1e3:.2f} ms ({nbytes / t_read / 1e9:.0f} GB/s), "
          f"materialise {t_ours * 1e3:.2f} ms = {t_ours / t_read:.2f}x the HBM read bound (target <= 1.5x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "hyperlora-bench")
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads for this benchmark (default: torch's choice); on a shared machine 1 "
                             "thread is less disturbed by other processes than a parallel region is")
    parser.add_argument("--skip-cold-start", action="store_true", help="only the materialisation figures")
    parser.add_argument("--plan-check", type=int, default=0, metavar="N",
                        help="N fresh processes: the chosen CPU path against every path on the whole combination")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        kind, folder = args.child
        child = {"ours": child_ours, "baseline": child_baseline, "plan": child_plan}[kind]
        print(json.dumps(child(folder)))
        return
    folder = ensure_checkpoint(args.cache)
    if args.plan_check:
        print(f"CPU: {cpu_model()}, torch {torch.__version__}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
        held = plan_check(folder, args.plan_check, args.threads)
        raise SystemExit(0 if held == args.plan_check else 1)  # gpu_check.sh reports a miss
    file_size = (folder / "hyper_lora_modules.safetensors").stat().st_size
    print(f"checkpoint: {folder} (bases file {file_size / 1e9:.2f} GB), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; CPU {cpu_model()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    if args.skip_cold_start:
        materialisation(folder, args.repeat)
        return
    warm_page_cache(folder)  # both contenders then read from RAM, not from whatever the disk does
    ours = run_child("ours", folder, args.threads)
    base = run_child("baseline", folder, args.threads)
    print(f"cold start, ours (load + first LoRA):      {ours['seconds']:.2f} s (load {ours['load_seconds']:.2f} s)")
    print(f"cold start, fp32 modules + load_state_dict + cast + per-layer LoRA: {base['seconds']:.2f} s "
          f"(load {base['load_seconds']:.2f} s)")
    print(f"  -> ours is {base['seconds'] / ours['seconds']:.1f}x faster (target >= 5x); "
          f"load alone {base['load_seconds'] / ours['load_seconds']:.1f}x")
    print(f"peak RSS, ours: {ours['peak_rss'] / 1e9:.2f} GB = {ours['peak_rss'] / file_size:.2f}x the bases file "
          f"(target <= 1.5x; {ours['rss_before'] / 1e9:.2f} GB of it is Python + torch before loading)")
    print(f"peak RSS, baseline: {base['peak_rss'] / 1e9:.2f} GB = {base['peak_rss'] / file_size:.2f}x")
    materialisation(folder, args.repeat)


if __name__ == "__main__":
    main()
