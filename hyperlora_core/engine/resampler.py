"""The Perceiver resampler and the ID projector as plain torch functions.

Working directly on the released state dicts (no nn.Module tree to build and
fill) keeps loading to a single read of each tensor, under the released names.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LAYER_NORM_EPS = 1e-5


def _norm(x: torch.Tensor, w: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], w[f"{name}.weight"], w[f"{name}.bias"], LAYER_NORM_EPS)


def _attention(query: torch.Tensor, context: torch.Tensor, w: dict[str, torch.Tensor], name: str,
               heads: int, q: torch.Tensor | None = None) -> torch.Tensor:
    """Multi-head softmax attention, scale 1/sqrt(dim_head), no biases (q: the query already projected)."""
    q = F.linear(query, w[f"{name}.to_q.weight"]) if q is None else q.expand(context.shape[0], -1, -1)
    k = F.linear(context, w[f"{name}.to_k.weight"])
    v = F.linear(context, w[f"{name}.to_v.weight"])
    batch, n_q, inner = q.shape
    dim_head = inner // heads

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.view(batch, t.shape[1], heads, dim_head).transpose(1, 2)

    out = F.scaled_dot_product_attention(split(q), split(k), split(v))
    out = out.transpose(1, 2).reshape(batch, n_q, inner)
    return F.linear(out, w[f"{name}.to_out.0.weight"])


def face_free_start(w: dict[str, torch.Tensor], heads: int) -> tuple[torch.Tensor, torch.Tensor]:
    """What the first layer computes before any face reaches it: its self-attention over the learned
    latents and the query of its first cross-attention. The same for every input, so a model computes
    it once (8 % of the resampler's work at the released size: 1,120 queries attending to each other).
    Returns (latents after layer 0's self-attention (1, Q, dim), that query (1, Q, inner))."""
    latents = w["latents"]
    n = _norm(latents, w, "layers.0.norm_attn1")
    latents = latents + _attention(n, n, w, "layers.0.attn1", heads)
    return latents, F.linear(_norm(latents, w, "layers.0.norm_attn2_l"), w["layers.0.attn2.to_q.weight"])


def resampler_tokens(w: dict[str, torch.Tensor], heads: int, x: torch.Tensor,
                     y: torch.Tensor | None = None,
                     start: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Run the resampler on B images; return the un-normalised (B, Q, K) tokens.

    start: face_free_start(w, heads), if the caller keeps it; computed here otherwise.
    """
    x = F.linear(x, w["proj_in.weight"], w["proj_in.bias"])
    if y is not None:
        y = F.linear(y, w["proj_in_2.weight"], w["proj_in_2.bias"])
    start_latents, query = start if start is not None else face_free_start(w, heads)
    latents = start_latents.expand(x.shape[0], -1, -1)
    j = 0
    while f"layers.{j}.norm_attn1.weight" in w:
        p = f"layers.{j}"
        if j > 0:
            n = _norm(latents, w, f"{p}.norm_attn1")
            latents = latents + _attention(n, n, w, f"{p}.attn1", heads)
        latents = latents + _attention(_norm(latents, w, f"{p}.norm_attn2_l"), _norm(x, w, f"{p}.norm_attn2_x"),
                                       w, f"{p}.attn2", heads, query if j == 0 else None)
        if y is not None:
            latents = latents + _attention(_norm(latents, w, f"{p}.norm_attn3_l"),
                                           _norm(y, w, f"{p}.norm_attn3_y"), w, f"{p}.attn3", heads)
        h = F.linear(_norm(latents, w, f"{p}.norm_ff"), w[f"{p}.ff.net.0.proj.weight"], w[f"{p}.ff.net.0.proj.bias"])
        latents = latents + F.linear(F.gelu(h), w[f"{p}.ff.net.2.weight"], w[f"{p}.ff.net.2.bias"])
        j += 1
    return F.linear(latents, w["proj_out.weight"], w["proj_out.bias"])


def id_tokens(w: dict[str, torch.Tensor], arcface: torch.Tensor) -> torch.Tensor:
    """ID projector: Linear(512 -> T*E), reshape to (B, T, E), LayerNorm(E)."""
    embed_dim = w["2.weight"].shape[0]
    tokens = F.linear(arcface, w["0.weight"], w["0.bias"]).view(arcface.shape[0], -1, embed_dim)
    return _norm(tokens, w, "2")


def fuse_and_normalize(tokens: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Multi-image ID fusion: (weighted) mean over the batch, then L2-normalise each token."""
    if weights is None:
        fused = tokens.mean(dim=0)
    else:
        weights = weights.to(tokens)
        fused = (tokens * (weights / weights.sum()).view(-1, 1, 1)).sum(dim=0)
    return normalize_tokens(fused)


def normalize_tokens(tokens: torch.Tensor) -> torch.Tensor:
    """L2-normalise each token (last axis), with the spec's 1e-8 inside the root."""
    return tokens / torch.sqrt((tokens * tokens).sum(dim=-1, keepdim=True) + 1e-8)
