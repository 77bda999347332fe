"""`HyperLoRAModel`: a loaded checkpoint that turns face features into LoRA weights."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from pathlib import Path

import torch

from .basis import BasisBank, bank_streaming_bytes, combine_bank, load_bank, plan_bank
from .checkpoint import HyperLoRAConfig, find_checkpoint_files, infer_config, read_module_specs
from .lora import LoraFactors, kohya_state_dict
from .naming import PROJECTIONS, kohya_module, model_key
from .resampler import face_free_start, fuse_and_normalize, id_tokens, resampler_tokens
from .safetensors_io import SafetensorsFile

REMEMBERED_COEFFICIENTS = 8  # (Q, K) float32 each: 573 KB at the released size

DTYPE_NAMES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32,
               "float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def parse_dtype(dtype) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    if dtype in DTYPE_NAMES:
        return DTYPE_NAMES[dtype]
    raise ValueError(f"Unknown dtype '{dtype}'. Use fp16, bf16 or fp32.")


def load_hyperlora(path, device=None, dtype=None, *, heads: int | None = None, dim_head: int | None = None,
                   pin_memory: bool = False) -> HyperLoRAModel:
    """Load a HyperLoRA checkpoint folder (the released files, unchanged).

    device: where the bases live and LoRAs are computed by default (default CPU).
    dtype: storage dtype of the bases (default: as in the file). The small resampler runs
    in fp32 on the CPU (CPU half matmul is slow) and in `dtype` on a GPU.
    heads, dim_head: the attention split. The files hold only heads x dim_head; the released width 768
    is split 12 x 64, any other width is refused unless these say how (checkpoint.attention_split).
    pin_memory: keep CPU bases in pinned RAM when CUDA is available, so streaming them to the GPU
    for each LoRA (device policy "auto") overlaps with the combination.
    """
    files = find_checkpoint_files(path)
    specs = read_module_specs(files.modules_json)
    config, st = infer_config(files, specs, heads, dim_head)
    return HyperLoRAModel(files.folder, specs, config, st, torch.device(device or "cpu"), parse_dtype(dtype),
                          pin_memory)


class HyperLoRAModel:
    """Resampler + ID projector + stacked LoRA bases of one checkpoint."""

    def __init__(self, folder: Path, specs, config: HyperLoRAConfig, st: dict[str, SafetensorsFile],
                 device: torch.device, dtype: torch.dtype | None, pin_memory: bool = False):
        self.path = folder
        self.specs = specs
        self.module_names = [s.name for s in specs]
        self.config = config
        self.device = device
        self._st = st
        self._pin_memory = pin_memory and device.type == "cpu" and torch.cuda.is_available()
        self.dtype = dtype or st["bases"].dtype(st["bases"].keys()[0])
        small_dtype = torch.float32 if device.type == "cpu" else self.dtype
        self._weights = {name: {k: v.to(device) for k, v in st[name].read_all(small_dtype).items()}
                         for name in ("resampler", "id_projector", "base_resampler") if name in st}
        self._starts: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._coefficients: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._coefficients_lock = threading.Lock()
        self._banks = {"id": plan_bank("id", specs, config.num_basis, config.rank)}
        if config.has_base:
            self._banks["base"] = plan_bank("base", specs, config.num_basis, config.base_rank)
        self._keys = [(model_key(s.name, p), kohya_module(s.name, p)) for s in specs for p in PROJECTIONS]
        self.load_bases()

    @property
    def has_base(self) -> bool:
        return self.config.has_base

    def __repr__(self) -> str:
        c = self.config
        return (f"HyperLoRAModel({self.path.name}: {c.num_modules} modules, K={c.num_basis}, rank={c.rank}, "
                f"base={'rank ' + str(c.base_rank) if c.has_base else 'no'}, {self.dtype}, {self.device})")

    # -- bases ---------------------------------------------------------------------------------
    def load_bases(self) -> None:
        """(Re)read the bases from disk into the stacked layout, if they were released."""
        for bank in self._banks.values():
            if not bank.loaded:
                # tiles for the CPU kernels; bases bound for a GPU keep whole slots (one bmm per group there)
                load_bank(bank, self._st["bases"], self.dtype, self._pin_memory,
                          tiled=self.device.type == "cpu" and not self._pin_memory)
                if self.device.type != "cpu":
                    for group in bank.groups:
                        group.data = group.data.to(self.device)

    def release(self) -> None:
        """Free the bases (the big part); they are read again on the next LoRA."""
        for bank in self._banks.values():
            bank.release()

    def basis_bytes(self) -> int:
        return sum(bank.nbytes() for bank in self._banks.values())

    def streaming_bytes(self) -> int:
        """VRAM a LoRA computed on a GPU takes at most when the bases stay in RAM (device policy auto):
        a streaming workspace of at most 256 MB, the coefficients and the LoRA itself (combine_gpu)."""
        return max(bank_streaming_bytes(bank, self.dtype.itemsize) for bank in self._banks.values())

    def tensors(self) -> list[torch.Tensor]:
        """Every tensor the model holds (bases and the small networks), for a host's memory accounting."""
        held = [g.data for bank in self._banks.values() for g in bank.groups if g.data is not None]
        return held + [t for weights in self._weights.values() for t in weights.values()]

    # -- coefficients ------------------------------------------------------------------------
    def _as_input(self, t, name: str, width: int, ndim: int) -> torch.Tensor:
        t = torch.as_tensor(t)
        if t.ndim != ndim or t.shape[-1] != width:
            expected = "(B, 512)" if ndim == 2 else "(B, tokens, width)"
            hint = "Pass the output of the face encoder for this checkpoint."
            if "CLIP" in name and t.ndim == 3:
                hint = (f"The CLIP vision model gives width {t.shape[-1]}; HyperLoRA needs CLIP ViT-L/14 (width "
                        f"{width}). Load the ViT-L/14 image encoder, not ViT-H/ViT-bigG (IP-Adapter's).")
            raise ValueError(f"{name} must have shape {expected} with last size {width}; got {tuple(t.shape)}. {hint}")
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} contains NaN or infinite values; encode the face again.")
        small = self._weights["resampler"]["latents"]
        return t.to(device=small.device, dtype=small.dtype)

    def _fusion_weights(self, weights, batch: int):
        if weights is None:
            return None
        weights = torch.as_tensor(weights, dtype=torch.float64).flatten()
        if not torch.isfinite(weights).all() or not torch.isfinite(weights.sum()):
            raise ValueError(f"The image weights must be finite numbers; got {weights.tolist()}.")
        if weights.numel() != batch or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(f"Give one non-negative weight per reference image ({batch}), not all zero.")
        weights = (weights / weights.max()).float()  # only ratios matter; 1e308 stays finite in float32
        return weights

    def _start(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The face-independent start of a resampler (resampler.face_free_start), computed once."""
        if name not in self._starts:
            self._starts[name] = face_free_start(self._weights[name], self.config.heads)
        return self._starts[name]

    @torch.inference_mode()
    def predict_id_coefficients(self, arcface, clip_tokens, weights=None) -> torch.Tensor:
        """alpha: (Q, K) L2-normalised tokens from B images of one person (fused by the mean)."""
        c = self.config
        arcface = self._as_input(arcface, "ArcFace embeddings", c.arcface_dim, 2)
        y = None
        if c.two_conditions:
            y = self._as_input(clip_tokens, "CLIP tokens", c.clip_dim, 3)
            if y.shape[0] != arcface.shape[0]:
                raise ValueError(f"Got {arcface.shape[0]} ArcFace embeddings but {y.shape[0]} CLIP token sets; "
                                 "they must come from the same images.")
        fusion = self._fusion_weights(weights, arcface.shape[0])

        def run() -> torch.Tensor:
            x = id_tokens(self._weights["id_projector"], arcface)
            tokens = resampler_tokens(self._weights["resampler"], c.heads, x, y, self._start("resampler"))
            return fuse_and_normalize(tokens.float(), fusion).cpu()
        return self._remembered(("id", arcface, y, fusion), run)

    @torch.inference_mode()
    def predict_base_coefficients(self, clip_tokens, weights=None) -> torch.Tensor:
        """beta: (Q, K) tokens from CLIP tokens of the face-blurred images."""
        if not self.has_base:
            raise ValueError(f"The checkpoint {self.path} has no Base-LoRA (no base_resampler.safetensors). "
                             "Set the Base strength to 0, or use a checkpoint that has one.")
        w = self._weights["base_resampler"]
        y = self._as_input(clip_tokens, "Base CLIP tokens", w["proj_in.weight"].shape[1], 3)
        fusion = self._fusion_weights(weights, y.shape[0])

        def run() -> torch.Tensor:
            tokens = resampler_tokens(w, self.config.heads, y, start=self._start("base_resampler"))
            return fuse_and_normalize(tokens.float(), fusion).cpu()
        return self._remembered(("base", y, fusion), run)

    def _remembered(self, inputs: tuple, run) -> torch.Tensor:
        """run()'s coefficients, or those of the last REMEMBERED_COEFFICIENTS calls with equal inputs.

        ComfyUI re-runs Predict Coefficients whenever Encode Face ran again, even on the same photo
        (face/feature_cache.py); the resampler is the costliest step after CLIP, and a digest of its
        inputs (a few MB) costs a millisecond.
        """
        h = hashlib.sha256()
        for part in inputs:
            if isinstance(part, torch.Tensor):
                part = part.detach().cpu().contiguous()
                h.update(f"{part.dtype} {tuple(part.shape)}".encode())
                h.update(part.view(-1).view(torch.uint8).numpy().tobytes())
            else:
                h.update(repr(part).encode())
        key = h.hexdigest()
        with self._coefficients_lock:  # ComfyUI may run two prompts' nodes on two threads
            kept = self._coefficients.get(key)
            if kept is not None:
                self._coefficients.move_to_end(key)
                return kept.clone()
        result = run()
        with self._coefficients_lock:
            self._coefficients[key] = result.clone()
            while len(self._coefficients) > REMEMBERED_COEFFICIENTS:
                self._coefficients.popitem(last=False)
        return result

    def forget_coefficients(self) -> None:
        """Drop the remembered coefficients (benchmarks time the resampler itself)."""
        with self._coefficients_lock:
            self._coefficients.clear()

    # -- LoRA weights --------------------------------------------------------------------------
    @torch.inference_mode()
    def lora_factors(self, coefficients, kind: str = "id", compute_device=None, make_room=None, *,
                     cpu_path: str | None = None) -> LoraFactors:
        """Materialise the LoRA of one coefficient set: factors keyed by ComfyUI model key (float32).

        make_room(bytes): optional, called for each shape group with the memory it needs on the
        compute device (see basis.combine_bank).
        cpu_path: force a CPU kernel (see combine_cpu; benchmarks and tests); default: the one
        timed fastest on this machine.
        """
        if kind not in self._banks:
            raise ValueError(f"Unknown LoRA kind '{kind}'" if kind not in ("id", "base") else
                             f"The checkpoint {self.path} has no Base-LoRA.")
        c = self.config
        coefficients = torch.as_tensor(coefficients)
        if tuple(coefficients.shape) != (c.num_queries, c.num_basis):
            raise ValueError(f"Coefficients must have shape ({c.num_queries}, {c.num_basis}) for this checkpoint; "
                             f"got {tuple(coefficients.shape)}. They were made with a different checkpoint.")
        self.load_bases()
        bank: BasisBank = self._banks[kind]
        device = torch.device(compute_device) if compute_device is not None else self.device
        matrices = combine_bank(bank, coefficients, device, make_room, cpu_path)
        up, down, names = {}, {}, {}
        for (i, proj), (u, d) in matrices.items():
            key, name = self._keys[4 * i + PROJECTIONS.index(proj)]
            up[key], down[key], names[key] = u, d, name
        order = [k for k, _ in self._keys]
        return LoraFactors({k: up[k] for k in order}, {k: down[k] for k in order}, bank.rank / 2,
                           {k: names[k] for k in order})

    def lora_state_dict(self, coefficients, kind: str = "id", style: str = "comfy",
                        dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
        """The kohya LoRA of one coefficient set (names as in the JSON, or LDM-style with style='kohya').

        float32 by default: exactly the combination the math gives. Files usually use fp16 (pass dtype).
        """
        return kohya_state_dict([(self.lora_factors(coefficients, kind), 1.0)], style, dtype)
