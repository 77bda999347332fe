"""GPU paths, checked for correctness against the CPU and timed (run by benchmarks/gpu_check.sh).

    python benchmarks/gpu_check.py [--cache DIR] [--repeat N]

For fp16 and bf16 bases:
- policy auto: bases in pinned RAM, streamed through the GPU; timed against copying the same bytes
  host-to-device (the PCIe bound); its peak VRAM measured against `streaming_bytes()`, the figure the
  device policy reserves (nodes/memory.py);
- policy gpu: bases resident; timed against one on-device read pass (target <= 1.5x);
- both compared with the exact CPU combination (fp32 accumulation of the same bases).
Then face analysis on ONNX Runtime's CUDA provider against its CPU provider (tiny stand-in models),
when onnxruntime offers CUDA. Without CUDA it checks the streaming code on the CPU and says
that the GPU figures were not measured. Exit code 1 when a correctness check fails.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import hyperlora_core as hl
from hyperlora_core.engine.combine_gpu import plan_chunks

TOLERANCE = {torch.float16: 2.0 ** -9, torch.bfloat16: 2.0 ** -6}  # one rounding of the result, with room
failures: list[str] = []


def check(name: str, ok: bool, detail: str) -> None:
    print(f"  [{'ok' if ok else 'FAIL'}] {name}: {detail}", flush=True)
    if not ok:
        failures.append(name)


def relative_error(factors, reference) -> float:
    worst = 0.0
    for key, want in reference.up.items():
        for got, exp in ((factors.up[key], want), (factors.down[key], reference.down[key])):
            got, exp = got.detach().float().cpu(), exp.float()
            worst = max(worst, float((got - exp).abs().max() / exp.abs().max().clamp_min(1e-30)))
    return worst


def timed(fn, repeat: int) -> float:
    fn()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def coefficients(model) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.nn.functional.normalize(torch.randn(model.config.num_queries, model.config.num_basis,
                                                     generator=gen), dim=-1)


def check_dtype(folder: Path, dtype: str, repeat: int) -> None:
    print(f"\n{dtype} bases", flush=True)
    reference = check_auto(folder, dtype, repeat)
    torch.cuda.empty_cache()
    check_resident(folder, dtype, repeat, reference)
    torch.cuda.empty_cache()


def check_auto(folder: Path, dtype: str, repeat: int):
    """Policy auto: bases in pinned RAM, streamed. Returns the exact CPU LoRA for the next check."""
    dev = torch.device("cuda")
    auto = hl.load_hyperlora(folder, device="cpu", dtype=dtype, pin_memory=True)
    coeff = coefficients(auto)
    reference = auto.lora_factors(coeff, compute_device="cpu", cpu_path="fp32_chunks")
    bank = auto._banks["id"]
    groups = [g.data for g in bank.groups]
    pinned = all(d.is_pinned() for d in groups)
    nbytes = bank.nbytes()
    group_bytes = max(d.numel() * d.element_size() for d in groups)
    workspace, _ = plan_chunks([tuple(d.shape) for d in groups], groups[0].element_size())
    workspace_bytes = workspace * groups[0].element_size()
    tol = TOLERANCE[auto.dtype]

    # auto: streamed from pinned RAM
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    factors = auto.lora_factors(coeff, compute_device=dev)
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - before
    lora_bytes = sum(t.numel() * t.element_size() for t in list(factors.up.values()) + list(factors.down.values()))
    check(f"{dtype} auto matches CPU", relative_error(factors, reference) <= tol,
          f"max relative error {relative_error(factors, reference):.1e} (tolerance {tol:.0e})")
    # The policy reserves streaming_bytes() (workspace, coefficients, the LoRA in the bases' dtype and in
    # float32) plus 64 MB of slack; cuBLAS's own workspace (a few MB) is the only other allocation.
    bound = auto.streaming_bytes()
    check(f"{dtype} auto peak VRAM <= streaming_bytes()", peak <= bound + (4 << 20),
          f"peak {peak / 1e6:.0f} MB, streaming_bytes() {bound / 1e6:.0f} MB (LoRA {lora_bytes / 1e6:.0f} MB, "
          f"workspace {workspace_bytes / 1e6:.0f} MB; largest group {group_bytes / 1e6:.0f} MB, all bases "
          f"{nbytes / 1e6:.0f} MB)")
    del factors
    buffer = torch.empty(max(d.numel() for d in groups), dtype=groups[0].dtype, device=dev)

    def transfer():
        for d in groups:
            buffer[:d.numel()].view(d.shape).copy_(d, non_blocking=True)

    t_pcie = timed(transfer, repeat)
    t_auto = timed(lambda: auto.lora_factors(coeff, compute_device=dev), repeat)
    print(f"  auto: {t_auto * 1e3:.1f} ms per new identity; copying the bases host->device "
          f"({'pinned' if pinned else 'NOT pinned'}) {t_pcie * 1e3:.1f} ms ({nbytes / t_pcie / 1e9:.1f} GB/s) "
          f"-> {t_auto / t_pcie:.2f}x the PCIe transfer (target: about 1x)")
    return reference


def check_resident(folder: Path, dtype: str, repeat: int, reference) -> None:
    """Policy gpu: bases resident in VRAM."""
    dev = torch.device("cuda")
    resident = hl.load_hyperlora(folder, device="cuda", dtype=dtype)
    rbank = resident._banks["id"]
    coeff = coefficients(resident)
    nbytes = rbank.nbytes()
    tol = TOLERANCE[resident.dtype]
    factors = resident.lora_factors(coeff, compute_device=dev)
    err = relative_error(factors, reference)
    check(f"{dtype} gpu matches CPU", err <= tol, f"max relative error {err:.1e} (tolerance {tol:.0e})")

    def read_once():
        for g in rbank.groups:
            g.data.view(torch.int16).max()

    t_read = timed(read_once, repeat)
    t_gpu = timed(lambda: resident.lora_factors(coeff, compute_device=dev), repeat)
    print(f"  gpu: {t_gpu * 1e3:.2f} ms per new identity; one read pass in HBM {t_read * 1e3:.2f} ms "
          f"({nbytes / t_read / 1e9:.0f} GB/s) -> {t_gpu / t_read:.2f}x the read bound (target <= 1.5x)")


def check_onnx_cuda() -> None:
    print("\nface analysis on ONNX Runtime's CUDA provider (tiny stand-in AntelopeV2 models)", flush=True)
    try:
        import numpy as np
        import onnxruntime
        from PIL import Image

        from tests.face_fixtures import GREY, paint_marker
        from tests.tiny_onnx import write_antelopev2
    except ImportError as exc:
        print(f"  not measured: {exc}")
        return
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        print(f"  not measured: onnxruntime {onnxruntime.__version__} offers {onnxruntime.get_available_providers()}"
              " (install onnxruntime-gpu for the CUDA provider)")
        return
    from hyperlora_core.face import load_face_analyzer
    from hyperlora_core.face.detection import detect_faces

    with tempfile.TemporaryDirectory() as tmp:
        folder = write_antelopev2(Path(tmp) / "antelopev2")
        image = paint_marker(Image.new("RGB", (640, 640), GREY), (200, 180, 360, 380))
        results = {}
        for provider in ("cpu", "cuda"):
            analyzer = load_face_analyzer(folder, provider=provider)
            faces = detect_faces(analyzer, image)
            t0 = time.perf_counter()
            for _ in range(5):
                faces = detect_faces(analyzer, image)
            results[provider] = (faces, (time.perf_counter() - t0) / 5, analyzer.providers[0])
        (cpu_faces, t_cpu, _), (gpu_faces, t_gpu, used) = results["cpu"], results["cuda"]
        same = len(cpu_faces) == len(gpu_faces) == 1 and np.allclose(cpu_faces[0].bbox, gpu_faces[0].bbox, atol=1e-2) \
            and np.allclose(cpu_faces[0].landmarks, gpu_faces[0].landmarks, atol=1e-2)
        check("ONNX CUDA provider matches CPU", same and used == "CUDAExecutionProvider",
              f"provider {used}; detect + landmarks {t_gpu * 1e3:.1f} ms vs {t_cpu * 1e3:.1f} ms on the CPU")


def cpu_only(repeat: int) -> None:
    """No CUDA: run the streaming code on the CPU against the exact path, so the script is checked."""
    from hyperlora_core.engine import basis
    from tests.synthetic_checkpoint import write_synthetic_checkpoint

    print("no CUDA device: the GPU figures are NOT measured. Checking the streamed path on the CPU instead.")
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_synthetic_checkpoint(Path(tmp) / "small", num_basis=16, rank=4, heads=2, dim_head=8)
        for dtype in ("fp16", "bf16"):
            tile_width, basis.TILE_WIDTH = basis.TILE_WIDTH, 64  # the small slots in tiles, as full ones are
            try:
                model = hl.load_hyperlora(folder, dtype=dtype, heads=2, dim_head=8)
            finally:
                basis.TILE_WIDTH = tile_width
            coeff = coefficients(model)
            reference = model.lora_factors(coeff, cpu_path="fp32_chunks")
            from hyperlora_core.engine.basis import combine_groups
            from hyperlora_core.engine.combine_gpu import combine_streamed

            bank = model._banks["id"]
            exact = combine_groups(bank, coeff, torch.device("cpu"), cpu_path="fp32_chunks")
            streamed = combine_streamed([coeff.index_select(0, g.row_index()) for g in bank.groups],
                                        [g.data for g in bank.groups], torch.device("cpu"))
            err = max(float((s.view(e.shape) - e).abs().max() / e.abs().max()) for s, e in zip(streamed, exact))
            check(f"{dtype} streamed slicing (on the CPU) matches the exact path", err <= TOLERANCE[model.dtype],
                  f"max relative error {err:.1e}")
            fused = model.lora_factors(coeff, cpu_path="fused")
            err = relative_error(fused, reference)
            check(f"{dtype} fused CPU path matches the exact path", err <= TOLERANCE[model.dtype],
                  f"max relative error {err:.1e}")
    check_onnx_cuda()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "hyperlora-bench")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}", flush=True)
    if not torch.cuda.is_available():
        cpu_only(args.repeat)
    else:
        from bench_core import ensure_checkpoint

        print(f"GPU: {torch.cuda.get_device_name()} ({torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} "
              f"GiB), CUDA {torch.version.cuda}", flush=True)
        t0 = time.perf_counter()
        folder = ensure_checkpoint(args.cache)
        print(f"checkpoint ready in {time.perf_counter() - t0:.0f} s: {folder}", flush=True)
        for dtype in ("fp16", "bf16"):
            check_dtype(folder, dtype, args.repeat)
        check_onnx_cuda()
    print(f"\n{'FAILED: ' + ', '.join(failures) if failures else 'all checks passed'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
