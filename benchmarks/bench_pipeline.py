"""From a new photo to a patched MODEL, stage by stage, against the official pack's way of each stage.

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
- The official pack's way (benchmarks/official_way.py, rewritten from its published behaviour): fp32
  nn.Modules filled by load_state_dict (its loader's dtype fp32: on a CPU without native half matmul
  its fastest; its example workflows use fp16), insightface's FaceAnalysis, CLIPImageProcessor, the
  whole CLIP model, an nn.Module resampler, one einsum per projection, ComfyUI's load_lora (its Apply:
  only with COMFYUI_PATH).
Each stage is timed `--repeat` times, ours and the official way in turn; the table gives medians.
Then the repeat cases, and the same photo a second time (what ComfyUI re-runs, and what is reused).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
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
    """CLIP ViT-L/14's vision tower at its real size with random weights (no download, fast init).

    Returns (our encoder, the official pack's call on the same weights, parameters). Our encoder drops
    the last layer (face/clip.py); the official call runs the whole model with output_hidden_states.
    """
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
    vision = getattr(model, "vision_model", model)
    all_layers = vision.encoder.layers
    encoder = TransformersCLIPEncoder(model.eval())

    @torch.no_grad()
    def official(pixel_values):
        ours = vision.encoder.layers
        vision.encoder.layers = all_layers  # the same weights, every layer
        try:
            return model(pixel_values=pixel_values, output_hidden_states=True).hidden_states[-2]
        finally:
            vision.encoder.layers = ours
    return encoder, official, params


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


def paired(ours, official, repeat: int):
    """Median seconds of ours and of the official way, run in turn (both see the same machine), and the
    last results. official may be None (not comparable here)."""
    times: tuple[list, list] = ([], [])
    results = [None, None]
    for _ in range(repeat):
        for n, fn in enumerate((ours, official)):
            if fn is None:
                continue
            t0 = time.perf_counter()
            results[n] = fn()
            times[n].append(time.perf_counter() - t0)
    med = [statistics.median(t) if t else None for t in times]
    return med[0], med[1], results[0], results[1]


def run(args) -> None:
    import official_way as official
    from bench_core import cpu_model, ensure_checkpoint

    import hyperlora_core as hl
    from hyperlora_core import face
    from hyperlora_core.face import feature_cache
    from hyperlora_core.face.detection import to_bgr
    from tests.tiny_onnx import write_antelopev2

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"CPU {cpu_model()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{torch.backends.cpu.get_cpu_capability()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    folder = ensure_checkpoint(args.cache)
    loads = {}
    t0 = time.perf_counter()
    model = hl.load_hyperlora(folder)
    loads["HyperLoRA checkpoint (3 GB bases)"] = [time.perf_counter() - t0]
    t0 = time.perf_counter()
    theirs = official.OfficialHyperLoRA(folder, torch.float32)
    loads["HyperLoRA checkpoint (3 GB bases)"].append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    encoder, official_clip, clip_params = build_clip_vit_l14()
    loads[f"CLIP ViT-L/14 built ({clip_params / 1e6:.0f} M parameters, random)"] = [time.perf_counter() - t0, None]
    root = Path(tempfile.mkdtemp())
    t0 = time.perf_counter()
    analyzer = face.load_face_analyzer(write_antelopev2(root / "ours" / "antelopev2"), provider="cpu")
    loads["face analyzer" + STAND_IN] = [time.perf_counter() - t0]
    t0 = time.perf_counter()
    write_antelopev2(root / "official" / "models" / "antelopev2", with_unused=False)
    app = official.face_analysis(root / "official")
    loads["face analyzer" + STAND_IN].append(None)  # stand-ins: nothing to compare
    warm = torch.nn.functional.normalize(torch.randn(model.config.num_queries, model.config.num_basis), dim=-1)
    t0 = time.perf_counter()
    from hyperlora_core.engine.basis import bank_cpu_plan

    plan = bank_cpu_plan(model._banks["id"], warm)
    loads["choosing the CPU combination path (once per process)"] = [time.perf_counter() - t0, None]
    factors = model.lora_factors(warm)
    patching = Patching(factors)
    print("one-time costs (not in the table), ours / the official way:")
    for name, (mine, other) in loads.items():
        print(f"  {name:58s} {mine:6.2f} s" + (f" / {other:6.2f} s = {other / mine:.1f}x" if other else ""))
    print(f"CPU combination path: {plan.path} ({plan.reason})")
    print(f"patching: {patching.where}, {len(patching.weights)} attention weights, "
          f"{patching.parameters / 1e6:.0f} M parameters (fp16)\n")

    image = photo_with_face()
    r = args.repeat
    rows: dict[str, tuple] = {}

    def stage(name, ours, theirs_fn=None):
        mine, other, result, other_result = paired(ours, theirs_fn, r)
        rows[name] = (mine, other)
        return result, other_result

    _, their_bgr = stage("photo -> BGR array", lambda: to_bgr(image),
                           lambda: np.ascontiguousarray(np.asarray(image)[:, :, ::-1]))
    faces, their_faces = stage("detection + landmarks" + STAND_IN, lambda: face.detect_faces(analyzer, image),
                               lambda: official.face_attributes(app, their_bgr))
    arcface, their_arcface = stage(
        "ArcFace: re-crop, detect, embed" + STAND_IN, lambda: face.arcface_embedding(analyzer, image, faces[0]),
        lambda: official.arcface(app, image, their_faces[0].landmark_2d_106))
    processor = official.clip_processor()
    pixels, their_pixels = stage(
        "face crop + CLIP preprocessing", lambda: face.clip_pixel_values([face.prepare_id_face(image, faces[0].landmarks)]),
        lambda: official.id_crop_pixels(processor, image, their_faces[0].landmark_2d_106))
    tokens, their_tokens = stage("CLIP ViT-L/14 (real size)", lambda: encoder.encode(pixels),
                                 lambda: official_clip(their_pixels))
    arcface = torch.from_numpy(arcface[None]).float()

    def predict():
        model.forget_coefficients()  # time the resampler, not the remembered answer
        return model.predict_id_coefficients(arcface, tokens)
    alpha, their_alpha = stage("ID projector + resampler -> coefficients", predict,
                               partial(theirs.coefficients, torch.from_numpy(their_arcface).float(), their_tokens))
    materialise = f"materialise the LoRA (CPU, {plan.path})"
    factors, their_lora = stage(materialise, lambda: model.lora_factors(alpha),
                                partial(theirs.lora, their_alpha))
    del theirs  # 6 GB of fp32 bases: not needed for the patching stages
    their_apply = None
    if patching.real:
        names = official.kohya_names(model.module_names)
        their_apply = lambda: official.apply_lora(patching.model, their_lora, 0.8, names)
    patched, their_patched = stage("patch the MODEL (Apply node)", lambda: patching.patch(factors), their_apply)
    r_weights = max(1, r // 2)
    mine, other, _, _ = paired(lambda: patching.apply_weights(patched),
                               (lambda: patching.apply_weights(their_patched)) if their_patched else None, r_weights)
    rows["ComfyUI computes the patched weights (sampling start)"] = (mine, other)
    print_table("a new photo -> patched MODEL", rows)
    check_same_result(alpha, their_alpha, factors, their_lora)
    compute_bound(model.config, rows["CLIP ViT-L/14 (real size)"], rows["ID projector + resampler -> coefficients"])

    image_tensor = torch.from_numpy(np.asarray(image, dtype="float32") / 255.0)[None]
    cases = {}
    patch_time = rows["patch the MODEL (Apply node)"][0]
    weights_time = rows["ComfyUI computes the patched weights (sampling start)"][0]
    total_new = sum(v[0] for v in rows.values())
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
        saved + rows[materialise][0] + patch_time)
    print(f"\nrepeat cases (each + {weights_time:.2f} s when sampling starts, as for a new photo):")
    print(f"  {'case':62s} {'seconds':>8s}  vs a new photo")
    for name, seconds in cases.items():
        print(f"  {name:62s} {seconds:8.3f}  {seconds / total_new * 100:5.1f} %")
    print(f"  (the checkpoint fingerprint a saved identity is checked against: {fingerprint_once:.3f} s once per "
          "checkpoint file date, then cached)")
    same_photo_again(model, analyzer, encoder, patching, image, feature_cache)
    patching.close()


def gemm_rate(m: int, k: int, n: int, repeat: int = 5) -> float:
    """FLOP/s of one fp32 (m x k) @ (k x n) matmul on this CPU, best of `repeat`: the rate the two
    largest stages, made of such products, can at most reach."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    torch.mm(a, b)
    best = min(best_seconds(lambda: torch.mm(a, b)) for _ in range(repeat))
    return 2 * m * k * n / best


def best_seconds(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def clip_flops(layers: int, tokens: int = 257, width: int = 1024, mlp: int = 4096) -> float:
    """Multiply-adds x 2 of a ViT's transformer layers (projections, MLP, attention scores and mix)."""
    return 2.0 * layers * (tokens * width * (4 * width + 2 * mlp) + 2 * tokens * tokens * width)


def resampler_flops(config, x_tokens: int = 16, y_tokens: int = 257, first_self_attention: bool = False) -> float:
    """Multiply-adds x 2 of the resampler on one image (face_free_start's part counted only if asked)."""
    q, dim, inner, ff = config.num_queries, 1024, 768, 4096
    per_layer = [
        3 * q * dim * inner + 2 * q * q * inner + q * inner * dim,                            # attn1
        q * dim * inner + 2 * x_tokens * dim * inner + 2 * q * x_tokens * inner + q * inner * dim,  # attn2
        q * dim * inner + 2 * y_tokens * dim * inner + 2 * q * y_tokens * inner + q * inner * dim,  # attn3
        2 * q * dim * ff]                                                                       # feed-forward
    total = 4 * sum(per_layer) + y_tokens * dim * dim + q * dim * config.num_basis
    if not first_self_attention:
        total -= per_layer[0] + q * dim * inner
    return 2.0 * total


def compute_bound(config, clip_times, resampler_times) -> None:
    """How close the two largest stages are to this CPU's fp32 matmul rate (measured here, now)."""
    print("\nthe two largest stages against this CPU's fp32 matmul rate (a GEMM of each one's main shape):")
    for name, (mine, theirs), flops, their_flops, shape in (
            ("CLIP ViT-L/14", clip_times, clip_flops(23), clip_flops(24), (257, 1024, 4096)),
            ("resampler", resampler_times, resampler_flops(config), resampler_flops(config, first_self_attention=True),
             (config.num_queries, 1024, 4096))):
        rate = gemm_rate(*shape)
        print(f"  {name}: ours {flops / 1e9:.0f} GFLOP in {mine:.3f} s = {flops / mine / 1e9:.0f} GFLOP/s, "
              f"{flops / mine / rate * 100:.0f} % of a {shape[0]}x{shape[1]}x{shape[2]} GEMM's "
              f"{rate / 1e9:.0f} GFLOP/s; the official way {their_flops / 1e9:.0f} GFLOP"
              + (f" at {their_flops / theirs / 1e9:.0f} GFLOP/s" if theirs else ""))


def check_same_result(alpha, their_alpha, factors, their_lora) -> None:
    """Both ways compute the same identity: the coefficients and every LoRA matrix compared."""
    worst_alpha = float((alpha - their_alpha[0]).abs().max())
    worst = 0.0
    for key, up in factors.up.items():
        name = factors.names[key]
        for ours, theirs in ((up, their_lora[f"{name}.lora_up.weight"]),
                             (factors.down[key], their_lora[f"{name}.lora_down.weight"])):
            worst = max(worst, float((ours.float() - theirs.float()).abs().max() / theirs.abs().max()))
    print(f"  (the same identity both ways: coefficients differ by at most {worst_alpha:.1e}, LoRA matrices by "
          f"{worst:.1e} of their largest value)")


def same_photo_again(model, analyzer, encoder, patching, image, feature_cache) -> None:
    """What a second run with the same photo costs when ComfyUI runs Encode Face and Predict again (an
    option of Encode Face changed, its cached output was dropped, or an upstream node re-ran): the
    features come from feature_cache, the coefficients from the model's memory of its inputs."""
    from hyperlora_core import face

    def whole(photo):
        conditioning = face.encode_faces([photo], analyzer, encoder)
        alpha = model.predict_id_coefficients(conditioning.arcface, conditioning.clip_tokens)
        return patching.patch(model.lora_factors(alpha))

    feature_cache.clear_all()
    model.forget_coefficients()
    t0 = time.perf_counter()
    whole(image)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    whole(image.copy())  # equal pixels, a new object: what a re-run upstream node hands on
    second = time.perf_counter() - t0
    print("\nthe same photo through Encode Face, Predict, materialise and Apply again (ComfyUI re-ran them):")
    print(f"  first time {first:.3f} s; second time {second:.3f} s ({second / first * 100:.1f} %): detection, ArcFace "
          "and CLIP from the feature cache, the coefficients remembered; materialise and Apply run again")


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


def print_table(title: str, rows: dict) -> None:
    total = sum(v[0] for v in rows.values())
    their_total = sum(v[1] for v in rows.values() if v[1] is not None)
    print(f"{title}: ours {total:.2f} s in total (median of each stage); the official way {their_total:.2f} s "
          f"over the stages it has here")
    print(f"  {'stage':58s} {'ours s':>8s} {'share':>7s} {'official s':>10s} {'official/ours':>13s}")
    for name, (mine, other) in rows.items():
        line = f"  {name:58s} {mine:8.3f} {mine / total * 100:6.1f} %"
        if other is not None:
            line += f" {other:10.3f} {other / mine:12.2f}x"
        else:
            line += f" {'n/a':>10s}"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "hyperlora-bench")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
