"""From a new photo to a patched MODEL, stage by stage, and the repeat cases artists hit.

    python benchmarks/bench_pipeline.py [--repeat N] [--cache DIR] [--threads N]
    COMFYUI_PATH=/path/to/ComfyUI python benchmarks/bench_pipeline.py   # patching by real ComfyUI code

What is real and what is a stand-in:
- HyperLoRA: the full-size synthetic checkpoint of bench_core.py (real shapes, random weights).
- CLIP ViT-L/14: the released vision config (24 layers, width 1024, patch 14, 224 px) built by
  transformers' CLIPVisionModel with random weights: real size, real cost.
- Face detection, landmarks, ArcFace: the tiny stand-in ONNX models of the tests (real insightface
  and onnxruntime code, but a few operators instead of SCRFD-10G, 2d106 and glintr100), so those
  three stages are far cheaper here than with AntelopeV2. Their rows are marked "stand-in".
- Patching: our node code on a MODEL holding every SDXL attention weight at its real shape (fp16);
  with COMFYUI_PATH, ComfyUI's own ModelPatcher and calculate_weight, else the test stand-in.
Each stage is timed `--repeat` times; the table gives the median and its share of the total.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

CLIP_VIT_L14 = {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24, "num_attention_heads": 16,
                "image_size": 224, "patch_size": 14, "projection_dim": 768, "hidden_act": "quick_gelu",
                "layer_norm_eps": 1e-5}  # openai/clip-vit-large-patch14's vision_config
STAND_IN = " (stand-in)"


def median_time(fn, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def build_clip_vit_l14():
    """CLIP ViT-L/14's vision tower at its real size with random weights (no download, fast init)."""
    from transformers import CLIPVisionConfig, CLIPVisionModel

    from hyperlora_core.face.clip import TransformersCLIPEncoder

    config = CLIPVisionConfig(**CLIP_VIT_L14)
    with torch.device("meta"):
        model = CLIPVisionModel(config)
    model = model.to_empty(device="cpu")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.fill_(1.0 if name.endswith("weight") else 0.0)
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
        for name, module in model.named_modules():  # transformers 4 nests them under vision_model, 5 does not
            if name.endswith("embeddings"):
                module.position_ids.copy_(torch.arange(module.num_positions).expand(1, -1))
    params = sum(p.numel() for p in model.parameters())
    return TransformersCLIPEncoder(model.eval()), params


def photo_with_face():
    """A 1024 x 1024 photo with one face marker the stand-in detector finds."""
    from PIL import Image

    from tests.face_fixtures import GREY, paint_marker

    return paint_marker(Image.new("RGB", (1024, 1024), GREY), (380, 300, 640, 600))


class Patching:
    """Our Apply node's patching on a MODEL with every SDXL attention weight at its real shape (fp16)."""

    def __init__(self, factors):
        self.real = bool(os.environ.get("COMFYUI_PATH"))
        if self.real:
            sys.path.insert(0, os.environ["COMFYUI_PATH"])
            from comfy.cli_args import args

            args.cpu = True
            import comfy.lora
            import comfy.model_patcher as mp

            self.calculate_weight = comfy.lora.calculate_weight
        else:
            import pytest

            from tests import comfy_standin

            self._monkeypatch = pytest.MonkeyPatch()
            comfy_standin.install(self._monkeypatch, Path(tempfile.mkdtemp()))
            mp = comfy_standin
        from tests.comfy_standin import load_pack

        self.pack = load_pack()
        weights = {key: torch.empty(up.shape[0], factors.down[key].shape[1], dtype=torch.float16).fill_(0.01)
                   for key, up in factors.up.items()}
        self.parameters = sum(w.numel() for w in weights.values())

        class AttentionWeights(torch.nn.Module):
            def state_dict(self, *args, **kwargs):
                return dict(weights)

        self.weights = weights
        self.model = mp.ModelPatcher(AttentionWeights(), load_device=torch.device("cpu"),
                                     offload_device=torch.device("cpu"))
        self.where = "ComfyUI " + ("(real, COMFYUI_PATH)" if self.real else "stand-in (tests/comfy_standin.py)")

    def patch(self, factors, strength: float = 0.8):
        """What Apply does: a clone of the MODEL with the LoRA's patches added."""
        return self.pack.nodes.patching.patch_model(self.model, [(factors, strength)])

    def apply_weights(self, patched) -> None:
        """What ComfyUI does with those patches when sampling starts: W + strength * delta per weight."""
        for key, weight in self.weights.items():
            if self.real:
                out = self.calculate_weight(patched.patches[key], weight.to(torch.float32, copy=True), key)
            else:
                out = patched.patched_weight(key)
            out.to(weight.dtype)

    def close(self):
        if not self.real:
            self._monkeypatch.undo()


def run(args) -> None:
    from bench_core import ensure_checkpoint

    import hyperlora_core as hl
    from hyperlora_core import face
    from hyperlora_core.face.detection import DET_SIZES, to_bgr
    from tests.tiny_onnx import write_antelopev2

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU {torch.backends.cpu.get_cpu_capability()}")
    loads = {}
    t0 = time.perf_counter()
    model = hl.load_hyperlora(ensure_checkpoint(args.cache))
    loads["HyperLoRA checkpoint (3 GB bases)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    encoder, clip_params = build_clip_vit_l14()
    loads[f"CLIP ViT-L/14 built ({clip_params / 1e6:.0f} M parameters, random)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    analyzer = face.load_face_analyzer(write_antelopev2(Path(tempfile.mkdtemp()) / "antelopev2"), provider="cpu")
    loads["face analyzer" + STAND_IN] = time.perf_counter() - t0
    warm = torch.nn.functional.normalize(torch.randn(model.config.num_queries, model.config.num_basis), dim=-1)
    t0 = time.perf_counter()
    from hyperlora_core.engine.basis import bank_cpu_plan

    plan = bank_cpu_plan(model._banks["id"], warm)
    loads["choosing the CPU combination path (once per process)"] = time.perf_counter() - t0
    factors = model.lora_factors(warm)
    patching = Patching(factors)
    print("one-time costs (not in the table):")
    for name, seconds in loads.items():
        print(f"  {name:58s} {seconds:6.2f} s")
    print(f"CPU combination path: {plan.path} ({plan.reason})")
    print(f"patching: {patching.where}, {len(patching.weights)} attention weights, "
          f"{patching.parameters / 1e6:.0f} M parameters (fp16)\n")

    image = photo_with_face()
    r = args.repeat
    stages = {}
    stages["photo -> BGR array"], bgr = median_time(lambda: to_bgr(image), r)
    stages["detection" + STAND_IN], found = median_time(lambda: analyzer.detect(bgr, DET_SIZES[0]), r)
    stages["landmarks" + STAND_IN], _ = median_time(lambda: analyzer.landmarks(bgr, found[0]), r)
    faces = face.detect_faces(analyzer, image)
    stages["ArcFace: re-crop, detect, embed" + STAND_IN], arcface = median_time(
        lambda: face.arcface_embedding(analyzer, image, faces[0]), r)
    stages["face crop + CLIP preprocessing"], pixels = median_time(
        lambda: face.clip_pixel_values([face.prepare_id_face(image, faces[0].landmarks)]), r)
    stages["CLIP ViT-L/14 (real size)"], tokens = median_time(lambda: encoder.encode(pixels), r)
    arcface = torch.from_numpy(arcface[None]).float()
    stages["resampler -> coefficients"], alpha = median_time(lambda: model.predict_id_coefficients(arcface, tokens), r)
    stages[f"materialise the LoRA (CPU, {plan.path})"], factors = median_time(lambda: model.lora_factors(alpha), r)
    stages["patch the MODEL (Apply node)"], patched = median_time(lambda: patching.patch(factors), r)
    stages["ComfyUI computes the patched weights (sampling start)"], _ = median_time(
        lambda: patching.apply_weights(patched), max(1, r // 2))
    print_table("a new photo -> patched MODEL", stages)

    image_tensor = torch.from_numpy(__import__("numpy").asarray(image, dtype="float32") / 255.0)[None]
    cases = {}
    patch_time = stages["patch the MODEL (Apply node)"]
    weights_time = stages["ComfyUI computes the patched weights (sampling start)"]
    cases["strength changed only (factors kept on the coefficients)"] = patch_time
    digest, _ = median_time(lambda: hashlib.sha256(image_tensor.cpu().numpy().tobytes()).hexdigest(), r)
    cases["same photo again (Apply Face: hash the IMAGE, reuse)"] = digest + patch_time
    with tempfile.TemporaryDirectory() as tmp:
        from safetensors.torch import load_file, save_file

        path = Path(tmp) / "identity.safetensors"
        save_file(model.lora_state_dict(alpha, dtype=torch.float16), str(path))
        read, _ = median_time(lambda: load_file(str(path)), r)
        size = path.stat().st_size
    cases[f"exported LoRA file read back ({size / 1e6:.0f} MB fp16) + patch"] = read + patch_time
    saved, fingerprint_once = saved_identity_case(model, alpha, arcface, r)
    cases["a saved identity: Load Identity (read, checkpoint check) + materialise + patch"] = (
        saved + stages[f"materialise the LoRA (CPU, {plan.path})"] + patch_time)
    total_new = sum(stages.values())
    print(f"\nrepeat cases (each + {weights_time:.2f} s when sampling starts, as for a new photo):")
    print(f"  {'case':62s} {'seconds':>8s}  vs a new photo")
    for name, seconds in cases.items():
        print(f"  {name:62s} {seconds:8.3f}  {seconds / total_new * 100:5.1f} %")
    print(f"  (the checkpoint fingerprint a saved identity is checked against: {fingerprint_once:.3f} s once per "
          "checkpoint file date, then cached)")
    patching.close()


def saved_identity_case(model, alpha, arcface, repeat: int) -> tuple[float, float]:
    """(seconds to load a saved identity and check its checkpoint, seconds of the first fingerprint).

    What Load Identity does before Apply: read the small file and compare the checkpoint fingerprint,
    which samples the 3 GB bases file once per file date and is cached after that.
    """
    from hyperlora_core.library import identity_file

    t0 = time.perf_counter()
    fingerprint = identity_file.checkpoint_fingerprint(model.path)
    fingerprint_once = time.perf_counter() - t0
    identity = identity_file.SavedIdentity(alpha=alpha, beta=None, label="bench", checkpoint="bench",
                                           fingerprint=fingerprint, created="", arcface=arcface[0])
    with tempfile.TemporaryDirectory() as tmp:
        path = identity_file.save_identity(Path(tmp) / "bench.safetensors", identity)

        def load():
            loaded = identity_file.load_identity(path)
            identity_file.check_checkpoint(loaded, "bench", identity_file.checkpoint_fingerprint(model.path),
                                           tuple(alpha.shape))
            return loaded

        seconds, loaded = median_time(load, repeat)
    assert torch.equal(loaded.alpha, alpha.float())
    return seconds, fingerprint_once


def print_table(title: str, stages: dict) -> None:
    total = sum(stages.values())
    print(f"{title}: {total:.2f} s in total (median of each stage)")
    print(f"  {'stage':58s} {'seconds':>8s} {'share':>7s}")
    for name, seconds in stages.items():
        print(f"  {name:58s} {seconds:8.3f} {seconds / total * 100:6.1f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "hyperlora-bench")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
