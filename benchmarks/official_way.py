"""The official ComfyUI-HyperLoRA pack's way of doing each stage, for benchmarks/bench_pipeline.py.

Written here from what the pack is documented and published to do (docs/benchmarks.md names the
sources), not copied, so that the benchmark can time it beside ours in the same run:
- loading: every LoRA layer, the resampler and the ID projector built as fp32 nn.Modules, filled by
  load_state_dict from a whole-file safetensors load, then cast to the loader's dtype;
- faces: insightface's FaceAnalysis (every model file of the folder) run on the whole photo at
  640/512/384/256 until a face is found, then again on the 2l re-crop for the ArcFace embedding;
- crops: the section-7 crops with PIL, then transformers' CLIPImageProcessor;
- CLIP: the whole vision model with output_hidden_states, hidden_states[-2];
- resampler: nn.Linear/nn.LayerNorm blocks with scaled-dot-product attention (diffusers' Attention);
- the LoRA: one einsum per projection and matrix in the loader's dtype, transposed copies, a kohya
  state dict with alpha tensors;
- Apply: ComfyUI's load_lora on a key map, a clone of the MODEL and add_patches.
Nothing here is used by the pack itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFilter
from torch import nn

from hyperlora_core.engine.naming import PROJECTIONS
from hyperlora_core.face.clip import CLIP_MEAN, CLIP_STD
from hyperlora_core.face.preprocess import OUTLINE_INDICES

DET_SIZES = (640, 512, 384, 256)


# --- modules, as the official loader builds them ---------------------------------------------------
class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int):
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(dim, inner, bias=False)
        self.to_v = nn.Linear(dim, inner, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(inner, dim, bias=False), nn.Dropout(0.0)])

    def forward(self, query: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        batch, n, _ = query.shape

        def heads(t):
            return t.view(batch, -1, self.heads, t.shape[-1] // self.heads).transpose(1, 2)

        out = F.scaled_dot_product_attention(heads(self.to_q(query)), heads(self.to_k(context)),
                                             heads(self.to_v(context)))
        return self.to_out[0](out.transpose(1, 2).reshape(batch, n, -1))


class GeluProj(nn.Module):
    def __init__(self, dim: int, inner: int):
        super().__init__()
        self.proj = nn.Linear(dim, inner)

    def forward(self, x):
        return F.gelu(self.proj(x))


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int):
        super().__init__()
        self.net = nn.ModuleList([GeluProj(dim, dim * mult), nn.Dropout(0.0), nn.Linear(dim * mult, dim)])

    def forward(self, x):
        for layer in self.net:
            x = layer(x)
        return x


class Block(nn.Module):
    def __init__(self, dim, heads, dim_head, ff_mult, conditions):
        super().__init__()
        self.norm_attn1, self.norm_attn2_l, self.norm_attn2_x = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn1, self.attn2 = Attention(dim, heads, dim_head), Attention(dim, heads, dim_head)
        if conditions == 2:
            self.norm_attn3_l, self.norm_attn3_y = nn.LayerNorm(dim), nn.LayerNorm(dim)
            self.attn3 = Attention(dim, heads, dim_head)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = FeedForward(dim, ff_mult)

    def forward(self, x, latents, y=None):
        n = self.norm_attn1(latents)
        latents = self.attn1(n, n) + latents
        latents = self.attn2(self.norm_attn2_l(latents), self.norm_attn2_x(x)) + latents
        if y is not None:
            latents = self.attn3(self.norm_attn3_l(latents), self.norm_attn3_y(y)) + latents
        return self.ff(self.norm_ff(latents)) + latents


class Resampler(nn.Module):
    def __init__(self, dim, depth, heads, dim_head, queries, embed_dim, output_dim, ff_mult, conditions):
        super().__init__()
        self.latents = nn.Parameter(torch.randn(1, queries, dim) / dim ** 0.5)
        self.proj_in = nn.Linear(embed_dim, dim)
        if conditions == 2:
            self.proj_in_2 = nn.Linear(embed_dim, dim)
        self.proj_out = nn.Linear(dim, output_dim)
        self.layers = nn.ModuleList([Block(dim, heads, dim_head, ff_mult, conditions) for _ in range(depth)])

    def forward(self, x, y=None):
        latents = self.latents.repeat(x.shape[0], 1, 1)
        x = self.proj_in(x)
        y = self.proj_in_2(y) if y is not None else None
        for layer in self.layers:
            latents = layer(x, latents, y)
        latents = self.proj_out(latents).mean(dim=0, keepdim=True)
        return latents * (latents.pow(2).sum(dim=-1, keepdim=True) + 1e-8).rsqrt()


class Reshape(nn.Module):
    def __init__(self, *shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape(*self.shape)


class LoraLayer(nn.Module):
    """One projection's bases as parameters: (K, in, r) and (K, r, out)."""

    def __init__(self, num_basis, fan_in, fan_out, rank):
        super().__init__()
        self.id_down_basis = nn.Parameter(torch.zeros(num_basis, fan_in, rank))
        self.id_up_basis = nn.Parameter(torch.zeros(num_basis, rank, fan_out))

    def forward(self, tokens):
        down = torch.einsum("bi,ijk->bjk", tokens[:, 0], self.id_down_basis)
        up = torch.einsum("bi,ijk->bjk", tokens[:, 1], self.id_up_basis)
        return down[0].t().contiguous(), up[0].t().contiguous()


class LoraModule(nn.Module):
    def __init__(self, num_basis, hidden, cross, rank):
        super().__init__()
        self.to_q = LoraLayer(num_basis, hidden, hidden, rank)
        self.to_k = LoraLayer(num_basis, cross or hidden, hidden, rank)
        self.to_v = LoraLayer(num_basis, cross or hidden, hidden, rank)
        self.to_out = LoraLayer(num_basis, hidden, hidden, rank)

    def forward(self, tokens):
        q, k, v, out = tokens.chunk(4, dim=1)
        return {"to_q": self.to_q(q), "to_k": self.to_k(k), "to_v": self.to_v(v), "to_out_0": self.to_out(out)}


class OfficialHyperLoRA:
    """The official loader's result: fp32 modules filled by load_state_dict, then cast to `dtype`."""

    def __init__(self, folder: Path, dtype: torch.dtype, clip_dim: int = 1024, rank: int = 8, num_basis: int = 128,
                 dim: int = 1024, depth: int = 4, heads: int = 12, dim_head: int = 64, ff_mult: int = 4,
                 id_tokens: int = 16):
        from safetensors.torch import load_file

        self.dtype = dtype
        self.info = json.loads((folder / "hyper_lora_modules.json").read_text())
        self.modules = nn.ModuleList([LoraModule(num_basis, m["hidden_size"], m["cross_attention_dim"], rank)
                                      for m in self.info.values()])
        self.modules.load_state_dict(load_file(str(folder / "hyper_lora_modules.safetensors")))
        self.modules.to(dtype).eval()
        self.resampler = Resampler(dim, depth, heads, dim_head, 8 * len(self.modules), clip_dim, num_basis,
                                   ff_mult, conditions=2)
        self.resampler.load_state_dict(load_file(str(folder / "resampler.safetensors")))
        self.resampler.to(dtype).eval()
        self.id_projector = nn.Sequential(nn.Linear(512, clip_dim * id_tokens), Reshape(-1, id_tokens, clip_dim),
                                          nn.LayerNorm(clip_dim))
        self.id_projector.load_state_dict(load_file(str(folder / "id_projector.safetensors")))
        self.id_projector.to(dtype).eval()

    @torch.no_grad()
    def coefficients(self, arcface: torch.Tensor, clip_tokens: torch.Tensor) -> torch.Tensor:
        """What its Generate ID LoRA node computes before the LoRA: (1, Q, K) tokens."""
        x = self.id_projector(arcface.view(-1, 1, 512).to(self.dtype))
        return self.resampler(x, clip_tokens.to(self.dtype))

    @torch.no_grad()
    def lora(self, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        """Its LoRA state dict: per module and projection, einsums in the loader's dtype."""
        out = {}
        for name, module, chunk in zip(self.info, self.modules, tokens.chunk(len(self.modules), dim=1)):
            for proj, (down, up) in module(chunk).items():
                out[f"{name}_{proj}.alpha"] = torch.tensor(float(down.shape[0])) * 0.5
                out[f"{name}_{proj}.lora_down.weight"] = down.cpu()
                out[f"{name}_{proj}.lora_up.weight"] = up.cpu()
        return out


# --- faces and crops ---------------------------------------------------------------------------------
def face_analysis(root: Path):
    """insightface's FaceAnalysis over <root>/models/antelopev2: every .onnx file there is loaded."""
    from insightface.app import FaceAnalysis

    app = FaceAnalysis(name="antelopev2", root=str(root), providers=["CPUExecutionProvider"])
    app.prepare(ctx_id=0, det_size=(640, 640))
    return app


def face_attributes(app, bgr: np.ndarray) -> list:
    """Its Face Attr node: analyse the whole photo, smaller detector sizes until a face is found."""
    for size in DET_SIZES:
        app.det_model.input_size = (size, size)
        faces = app.get(bgr)
        if faces:
            return faces
    return []


def arcface(app, image: Image.Image, landmarks: np.ndarray) -> np.ndarray:
    """Its ID Cond node's ArcFace: the 2l square about the face box, analysed again at 640."""
    cx, cy, half = face_square(landmarks)
    crop = image.crop((cx - 2 * half, cy - 2 * half, cx + 2 * half, cy + 2 * half))
    app.det_model.input_size = (640, 640)
    faces = app.get(np.ascontiguousarray(np.asarray(crop)[:, :, ::-1]))
    return faces[0].normed_embedding


def face_square(landmarks: np.ndarray) -> tuple[float, float, float]:
    (x0, y0), (x1, y1) = landmarks.min(axis=0), landmarks.max(axis=0)
    half = max(x1 - x0, y1 - y0) * 0.75
    return (x0 + x1) / 2, (y0 + y1) / 2 - half * 0.125, half


def clip_processor():
    """transformers' CLIPImageProcessor with the released preprocessor_config.json values."""
    try:
        from transformers import CLIPImageProcessorPil as Processor  # transformers >= 5
    except ImportError:
        from transformers import CLIPImageProcessor as Processor
    return Processor(do_resize=True, size={"shortest_edge": 224}, resample=3, do_center_crop=True,
                     crop_size={"height": 224, "width": 224}, do_rescale=True, rescale_factor=1 / 255,
                     do_normalize=True, image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD), do_convert_rgb=True)


def id_crop_pixels(processor, image: Image.Image, landmarks: np.ndarray) -> torch.Tensor:
    """Its ID Cond node's CLIP input: the face on grey inside its outline, the face square, the processor."""
    outline = landmarks[list(OUTLINE_INDICES)]
    centre = outline.mean(axis=0)
    mask = Image.new("L", image.size, 0)
    ImageDraw.Draw(mask).polygon([tuple(p) for p in outline.tolist()], fill=255)
    half = max(*(outline.max(axis=0) - outline.min(axis=0))) * 0.8
    box = (centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half)
    crop, crop_mask = image.crop(box), mask.crop(box)
    crop_mask = crop_mask.resize((512, 512)).filter(ImageFilter.GaussianBlur(radius=15)).resize(crop.size)
    face = Image.new("RGB", image.size, "#7f7f7f")
    face.paste(crop, (int(box[0]), int(box[1])), crop_mask)
    cx, cy, half = face_square(landmarks)
    face = face.crop((cx - half, cy - half, cx + half, cy + half))
    return torch.as_tensor(np.asarray(processor(face, return_tensors="np")["pixel_values"]))


# --- Apply -------------------------------------------------------------------------------------------
def apply_lora(model, lora: dict[str, torch.Tensor], strength: float, model_keys: dict[str, str]):
    """Its Apply LoRA node: ComfyUI's load_lora_for_models, which maps the LoRA's names to the model's
    weights (a key map from the model's state dict), converts them (comfy.lora.load_lora) and adds
    the patches to a clone. model_keys: kohya name -> model key, what ComfyUI's SDXL key map gives."""
    import comfy.lora

    key_map = {}
    for key in model.model.state_dict():
        name = model_keys.get(key)
        if name is not None:
            key_map[name] = key
    patched = model.clone()
    patched.add_patches(comfy.lora.load_lora(lora, key_map), strength)
    return patched


def kohya_names(module_names: list[str]) -> dict[str, str]:
    """Model key -> the official LoRA's name for it (diffusers-style, as in the released JSON)."""
    from hyperlora_core.engine.naming import model_key

    return {model_key(name, proj): f"{name}_{'to_out_0' if proj == 'to_out' else proj}"
            for name in module_names for proj in PROJECTIONS}
