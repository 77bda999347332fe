"""Multi-GPU conditioning (issue 24): core's _calc_cond_batch_multigpu calls one model copy per device from its own
thread at the same time, and the copies share one IdentitySet. On a machine with two or more GPUs this runs two
threads, one per device (fp16 on the first, bf16 on the second), each sending batches through the APPLY_MODEL
wrapper of Apply to Conditioning, and checks that every result equals the single-threaded one and that the
factors are built once per device (never evicted by the other). Prints the time per call, alone and together.
Fewer than two GPUs: says so and exits 0.

    python benchmarks/gpu_two_devices.py [--calls 50]
"""

from __future__ import annotations

import argparse
import importlib
import sys
import threading
import time
import types
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def load_runtime():
    """nodes/identity_runtime.py without ComfyUI: the pack as a package, its nodes/ folder without __init__."""
    for name, path in (("hlpack", ROOT), ("hlpack.nodes", ROOT / "nodes")):
        package = types.ModuleType(name)
        package.__path__ = [str(path)]
        sys.modules[name] = package
    return importlib.import_module("hlpack.nodes.identity_runtime")


def build(runtime, identities: int = 2, modules: int = 64, width: int = 1280, rank: int = 8):
    from hlpack.hyperlora_core.engine.lora import LoraFactors

    gen = torch.Generator().manual_seed(0)
    keys = [f"blocks.{i}.to_q.weight" for i in range(modules)]
    placed = []
    for n in range(identities):
        up = {k: torch.randn(width, rank, generator=gen) * 0.01 for k in keys}
        down = {k: torch.randn(rank, width, generator=gen) * 0.01 for k in keys}
        placed.append(runtime.PlacedIdentity(LoraFactors(up, down, rank / 2, {k: k for k in keys}), 0.8, [],
                                             label=f"id{n}"))
    tree = torch.nn.Module()
    tree.blocks = torch.nn.ModuleList()
    for _ in keys:
        block = torch.nn.Module()
        block.to_q = torch.nn.Linear(width, width)
        tree.blocks.append(block)
    return runtime.IdentitySet(tuple(placed)), tree, keys


class Executor:
    def __init__(self, tree):
        self.class_obj = tree

    def __call__(self, x, *args, **kwargs):
        for block in self.class_obj.blocks:
            x = block.to_q(x)
        return x


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count < 2:
        print(f"two devices: not checked ({count} GPU; needs 2)")
        return 0
    runtime = load_runtime()
    identities, tree, keys = build(runtime)
    devices = {torch.device("cuda:0"): torch.float16, torch.device("cuda:1"): torch.bfloat16}
    trees = {}
    for d, dtype in devices.items():  # copies of one model, as core's multi-GPU clones are
        trees[d] = build(runtime)[1]
        trees[d].load_state_dict(tree.state_dict())
        trees[d].to(d, dtype)
    options = {"uuids": ["a", "b", "scene"], runtime.STRENGTHS: {"a": (0, 0.8), "b": (1, 0.6)}}
    xs = {d: torch.randn(3, 256, 1280, generator=torch.Generator().manual_seed(1)).to(d, dtype)
          for d, dtype in devices.items()}
    builds = []
    original = runtime.stack_factors
    runtime.stack_factors = lambda f: builds.append(f[0].up[keys[0]].device) or original(f)

    def call(d):
        return runtime._apply_rows(identities, Executor(trees[d]), xs[d], None, transformer_options=dict(options))

    single, alone = {}, {}
    for d in devices:
        single[d] = call(d)
        torch.cuda.synchronize(d)
        started = time.perf_counter()
        for _ in range(args.calls):
            call(d)
        torch.cuda.synchronize(d)
        alone[d] = (time.perf_counter() - started) / args.calls
    results = {d: [] for d in devices}
    barrier = threading.Barrier(len(devices))

    def worker(d):
        with torch.cuda.device(d):
            barrier.wait()
            for _ in range(args.calls):
                results[d].append(call(d))
            torch.cuda.synchronize(d)

    threads = [threading.Thread(target=worker, args=(d,)) for d in devices]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    together = (time.perf_counter() - started) / args.calls
    same = all(torch.equal(r, single[d]) for d, rs in results.items() for r in rs)
    once = sorted(map(str, builds)) == sorted(map(str, devices))
    for d, dtype in devices.items():
        print(f"{torch.cuda.get_device_name(d)} {d} {dtype}: {alone[d] * 1e3:.2f} ms per call alone")
    print(f"both devices at once: {together * 1e3:.2f} ms per call pair")
    print(f"{'ok' if same else 'FAIL'}: every threaded result equals the single-threaded one")
    print(f"{'ok' if once else 'FAIL'}: factors built once per device ({len(builds)} builds: {sorted(map(str, builds))})")
    return 0 if same and once else 1


if __name__ == "__main__":
    raise SystemExit(main())
