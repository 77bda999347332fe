"""Identities that live on the MODEL and act on the rows of the conditionings that carry them.

No weight is patched and no core hook is used (core hooks turn dynamic VRAM off and load the model a second
time). Two patcher wrappers, present in ComfyUI 0.3.64 and every newer core:

* CALC_COND_BATCH sees the sampler's conds for this step: each cond tagged with one of our identities gets
  that identity's strength at this step's sigma (fades as keyframes read from the sigma, so any sampler,
  scheduler or custom sigmas work). The strengths, keyed by the cond's uuid, ride along in
  transformer_options.
* APPLY_MODEL sees each UNet call with its batch of conds (`uuids`): it turns the strengths into one per
  row and identity, and for the duration of the call adds each identity's low-rank path to the output of
  the attention projections (torch forward hooks, removed after the call), scaled per row. Rows of the
  background or of other conds get nothing: their prediction is the plain model's.

ComfyUI still batches every cond of a step into one UNet call (masks, windows and the background default
conds are its own machinery), and the result does not depend on how it splits the batch.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import torch

from ..hyperlora_core.engine.activation_lora import (
    StackedFactors,
    low_rank_delta,
    row_channel_scale,
    stack_factors,
)
from ..hyperlora_core.engine.lora import LoraFactors
from ..hyperlora_core.engine.schedule import strength_at_sigma

WRAPPER_KEY = "hyperlora_identities"
TAG = "hyperlora_identity"  # key of our identity copies in a cond: the PlacedIdentity
STRENGTHS = "hyperlora_identity_strengths"  # transformer_options: {cond uuid: (identity index, strength)}


@dataclass(eq=False)
class PlacedIdentity:
    """One identity as placed by one node: its LoRA factors, strength and fades. Tags the conds it acts on."""

    factors: LoraFactors
    strength: float
    keyframes: list[tuple[float, float]]  # (percent, multiplier) of the fades; [] = constant
    label: str = "identity"
    key: str = field(default_factory=lambda: uuid.uuid4().hex)

    def strength_at(self, sigma: float, model_sampling) -> float:
        """The strength at this step: base strength times the fade at its sigma (keyframes at the sigmas of their
        percents, as core places conditioning windows)."""
        thresholds = [(model_sampling.percent_to_sigma(p), v) for p, v in self.keyframes]
        return self.strength * strength_at_sigma(sigma, thresholds)

    def _comfy_cache_tensors(self) -> list:
        """For ComfyUI's RAM-pressure cache, which sizes a cached conditioning by its tensors."""
        return list(self.factors.up.values()) + list(self.factors.down.values())

    def __deepcopy__(self, memo):  # conds get copied; they must keep pointing at the same identity
        return self


class IdentitySet:
    """The identities on one model, in placing order, and their factors stacked once per device and dtype."""

    def __init__(self, identities: tuple[PlacedIdentity, ...]):
        self.identities = identities
        self._index = {placed.key: i for i, placed in enumerate(identities)}
        self._on_device: dict = {}

    def __deepcopy__(self, memo):
        return self

    def index_of(self, placed) -> int:
        index = self._index.get(getattr(placed, "key", None))
        if index is None:
            raise ValueError(
                f"The conditioning carries the HyperLoRA identity '{getattr(placed, 'label', '?')}', but the model "
                "given to the sampler does not: connect the model output of the last HyperLoRA Apply to "
                "Conditioning node (the one that gets every person) to the sampler's model input.")
        return index

    def stacked_on(self, device, dtype) -> StackedFactors:
        """The stacked factors on the compute device in the layer's dtype: the only copy kept (22 MiB per identity
        in fp16 for the released SDXL checkpoints), made on the first call and reused by every later one."""
        key = (str(device), dtype)
        if key not in self._on_device:
            stacked = stack_factors([placed.factors.to(device, dtype) for placed in self.identities])
            self._on_device = {key: stacked}  # one device and dtype at a time
        return self._on_device[key]

    def module_names(self) -> list[str]:
        return [key[: -len(".weight")] for key in self.identities[0].factors.up]


class _Wrapper:
    """A wrapper ComfyUI may copy with its options: copies share the identity set."""

    def __init__(self, function, identities: IdentitySet):
        self.function = function
        self.identities = identities

    def __call__(self, *args, **kwargs):
        return self.function(self.identities, *args, **kwargs)

    def __deepcopy__(self, memo):
        return self


def identity_set(model) -> IdentitySet | None:
    """The identities already on `model` (from an earlier Apply to Conditioning), or None."""
    from comfy.patcher_extension import WrappersMP

    wrappers = model.get_wrappers(WrappersMP.APPLY_MODEL, WRAPPER_KEY)
    return wrappers[0].identities if wrappers else None


def place_identity(model, placed: PlacedIdentity):
    """A clone of `model` that carries `placed` besides the identities it already has."""
    from comfy.patcher_extension import WrappersMP

    previous = identity_set(model)
    identities = IdentitySet((previous.identities if previous else ()) + (placed,))
    clone = model.clone()
    for kind, function in ((WrappersMP.CALC_COND_BATCH, _strengths_for_step), (WrappersMP.APPLY_MODEL, _apply_rows)):
        clone.remove_wrappers_with_key(kind, WRAPPER_KEY)
        clone.add_wrapper_with_key(kind, WRAPPER_KEY, _Wrapper(function, identities))
    return clone


def _strengths_for_step(identities: IdentitySet, executor, model, conds, x_in, timestep, model_options):
    """CALC_COND_BATCH: each tagged cond's identity and strength at this step, keyed by the cond's uuid."""
    sigma = float(timestep[0])
    strengths = {}
    for group in conds:
        for cond in group or ():
            placed = cond.get(TAG)
            if placed is None:
                continue
            _check_mask_batch(cond, x_in, placed)
            strengths[cond["uuid"]] = (identities.index_of(placed), placed.strength_at(sigma, model.model_sampling))
    if strengths:
        options = dict(model_options)
        options["transformer_options"] = {**model_options.get("transformer_options", {}), STRENGTHS: strengths}
        model_options = options
    return executor(model, conds, x_in, timestep, model_options)


def _check_mask_batch(cond, x_in, placed) -> None:
    mask = cond.get("mask")
    if mask is not None and mask.shape[0] not in (1, x_in.shape[0]):
        raise ValueError(
            f"The mask of the HyperLoRA identity '{placed.label}' holds {mask.shape[0]} masks, but the latent "
            f"batch has {x_in.shape[0]} images: give one mask (used for every image) or one per image.")


def _apply_rows(identities: IdentitySet, executor, x, t, c_concat=None, c_crossattn=None, control=None,
                transformer_options=None, **kwargs):
    """APPLY_MODEL: the call's rows get their identities' low-rank paths on the attention projections."""
    transformer_options = transformer_options if transformer_options is not None else {}
    strengths = transformer_options.get(STRENGTHS)
    uuids = transformer_options.get("uuids")
    rows = _row_strengths(identities, strengths, uuids, x.shape[0]) if strengths and uuids else None
    if rows is None:
        return executor(x, t, c_concat, c_crossattn, control, transformer_options, **kwargs)
    handles = _add_low_rank_paths(executor.class_obj, identities, rows)
    try:
        return executor(x, t, c_concat, c_crossattn, control, transformer_options, **kwargs)
    finally:
        for handle in handles:
            handle.remove()


def _row_strengths(identities: IdentitySet, strengths: dict, uuids: list, batch: int) -> torch.Tensor | None:
    """(identities, rows) strengths of this call, or None when no row has an identity."""
    if batch % len(uuids):
        raise RuntimeError(f"The UNet batch of {batch} rows does not split into {len(uuids)} conditionings.")
    chunk = batch // len(uuids)
    rows = torch.zeros(len(identities.identities), batch)
    for j, cond_uuid in enumerate(uuids):
        if cond_uuid in strengths:
            index, strength = strengths[cond_uuid]
            rows[index, j * chunk:(j + 1) * chunk] = strength
    return rows if bool(rows.any()) else None


def _add_low_rank_paths(base_model, identities: IdentitySet, rows: torch.Tensor) -> list:
    """Forward hooks that add every row's identity to the attention projections; their handles."""
    scales: dict = {}

    def scale_for(x):
        """The stacked factors and the per-row scale for x's device and dtype, both made once per UNet call."""
        key = (x.device, x.dtype)
        if key not in scales:
            stacked = identities.stacked_on(x.device, x.dtype)
            scales[key] = stacked, row_channel_scale(stacked, rows).to(device=x.device, dtype=x.dtype)
        return scales[key]

    def hook_for(name):
        weight_key = name + ".weight"

        def add_identity(module, args, output):
            x = args[0]
            stacked, scale = scale_for(x)
            return output + low_rank_delta(x, stacked.down[weight_key], stacked.up[weight_key], scale)

        return add_identity

    handles = []
    try:
        for name in identities.module_names():
            handles.append(base_model.get_submodule(name).register_forward_hook(hook_for(name)))
    except AttributeError as exc:
        for handle in handles:
            handle.remove()
        raise ValueError("The model given to the sampler is not the SDXL UNet the HyperLoRA identity was placed on "
                         f"({exc}). Connect an SDXL model.") from exc
    return handles


TESTED_SINCE = "0.3.64"


def require_model_wrappers(model) -> None:
    """A clear "update ComfyUI" error where the patcher lacks the keyed wrappers we install."""
    try:
        from comfy.patcher_extension import WrappersMP
    except ImportError:
        WrappersMP = None
    needed = ("add_wrapper_with_key", "remove_wrappers_with_key", "get_wrappers")
    if WrappersMP is None or not hasattr(WrappersMP, "CALC_COND_BATCH") or not all(
            hasattr(model, name) for name in needed):
        raise RuntimeError("This ComfyUI is too old for scheduled and regional HyperLoRA identities (its model "
                           f"has no sampling wrappers). Update ComfyUI to {TESTED_SINCE} or newer; until then use "
                           "HyperLoRA Apply, which applies the identity to the whole model.")
