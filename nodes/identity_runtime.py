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

import contextvars
import logging
import threading
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
# strength: a float, or a tuple of one strength per image of the latent batch (image_strengths)
REGIONS = "hyperlora_identity_regions"  # cond key (one pass): the PlacedIdentities masked onto this cond's own rows
REGION_STRENGTHS = "hyperlora_region_strengths"  # transformer_options: {cond uuid: ((identity index, strength), ...)}
TEXT_SIDE = ("attn2.to_k", "attn2.to_v")  # projections of the prompt's tokens: no image position to mask
CHECK = "hyperlora_identity_check"  # model_conds key on every cond we output: see IdentityCheck
COMPILE_KEYS = ("torch.compile", "torch_compile_kwargs")  # core TorchCompileModel's wrapper key and model option
logger = logging.getLogger(__name__)
_STEP = contextvars.ContextVar("hyperlora_identity_step", default=None)  # the IdentitySet of the running step


@dataclass(eq=False)
class PlacedIdentity:
    """One identity as placed by one node: its LoRA factors, strength and fades. Tags the conds it acts on."""

    factors: LoraFactors
    strength: float
    keyframes: list[tuple[float, float]]  # (percent, multiplier) of the fades; [] = constant
    label: str = "identity"
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    image_strengths: tuple[float, ...] = ()  # one strength per image of the batch (times `strength`); () = none
    region: torch.Tensor | None = None  # one pass: the (B, H, W) mask its LoRA output is multiplied with
    _warned: set = field(default_factory=set, repr=False)

    def strengths_for_batch(self, strength: float, batch: int):
        """`strength` (this step's) as the cond's rows get it: one float, or one per image of the latent batch
        from image_strengths (a strength sweep in one batch)."""
        if not self.image_strengths:
            return strength
        count = len(self.image_strengths)
        if count == 1:
            return strength * self.image_strengths[0]
        if count != batch:
            raise ValueError(
                f"The strength list of the HyperLoRA identity '{self.label}' holds {count} strengths, but the latent "
                f"batch has {batch} images. Give one strength per image ({batch} values), or a single strength; "
                f"or set the latent's batch_size to {count}.")
        return tuple(strength * s for s in self.image_strengths)

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
    """The identities on one model, in placing order, and their factors stacked once per device and dtype.

    Every copy of the model shares this set (core's multi-GPU sampling calls one copy per device from its own
    thread at the same time), so each device and dtype keeps its own stacked copy, built once under a lock and
    never evicted by another device's.
    """

    def __init__(self, identities: tuple[PlacedIdentity, ...]):
        self.identities = identities
        self._index = {placed.key: i for i, placed in enumerate(identities)}
        self._on_device: dict = {}
        self._lock = threading.Lock()

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
        """The stacked factors on the layer's device in the layer's dtype (22 MiB per identity in fp16 for the
        released SDXL checkpoints), made on the first call there and reused by every later one. They follow
        wherever core computes (lowvram, partial loading and dynamic VRAM move the inputs, fp8 weights compute
        in the cast dtype): the key is the activation's device and dtype, not the weights'."""
        key = (str(device), dtype)
        stacked = self._on_device.get(key)
        if stacked is None:
            with self._lock:  # another device's thread may be building its own copy
                stacked = self._on_device.get(key)
                if stacked is None:
                    stacked = stack_factors([placed.factors.to(device, dtype) for placed in self.identities])
                    self._on_device = {**self._on_device, key: stacked}  # readers keep a whole dict
        return stacked

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
    warn_if_no_room(identities, getattr(model, "load_device", None))
    clone = model.clone()
    for kind, function in ((WrappersMP.CALC_COND_BATCH, _strengths_for_step), (WrappersMP.APPLY_MODEL, _apply_rows)):
        clone.remove_wrappers_with_key(kind, WRAPPER_KEY)
        clone.add_wrapper_with_key(kind, WRAPPER_KEY, _Wrapper(function, identities))
    return clone


STACKED_BYTES_PER_VALUE = 2  # the stacked factors in the sampler's fp16/bf16 on a GPU: the least they can take


def stacked_bytes(identities: IdentitySet) -> int:
    """At least what the identities' stacked factors take on the sampling GPU (22 MiB per identity for SDXL)."""
    return sum(t.numel() for placed in identities.identities
               for t in (*placed.factors.up.values(), *placed.factors.down.values())) * STACKED_BYTES_PER_VALUE


def warn_if_no_room(identities: IdentitySet, device) -> None:
    """Before sampling: a warning naming the count when the GPU lacks the room for every identity's stacked
    factors (they are made at the first step, outside ComfyUI's model memory). Not on the CPU (22 MiB each is
    no concern for RAM), nor under dynamic VRAM, where resident models fill the GPU and free memory says little."""
    from .memory import dynamic_vram

    if device is None or torch.device(device).type == "cpu" or dynamic_vram():
        return
    import comfy.model_management as mm

    needed, free = stacked_bytes(identities), mm.get_free_memory(device)
    if needed > free:
        mib = 1024 * 1024
        logger.warning(f"HyperLoRA Apply to Conditioning: {len(identities.identities)} identities on one model need at "
                       f"least {needed / mib:.0f} MiB on {device} for their LoRA factors, but only {free / mib:.0f} "
                       "MiB are free there now, so sampling may run out of memory. Place fewer identities on this "
                       "model, or free memory (e.g. Unload Models).")


def _strengths_for_step(identities: IdentitySet, executor, model, conds, x_in, timestep, model_options):
    """CALC_COND_BATCH: each tagged cond's identity and strength at this step, keyed by the cond's uuid."""
    sigma = float(timestep[0])
    strengths, regions = {}, {}
    for group in conds:
        for cond in group or ():
            _refuse_area_after(cond, identities)
            for placed in cond.get(REGIONS, ()):
                _refuse_compiled(model_options, placed)
                strength = placed.strengths_for_batch(placed.strength_at(sigma, model.model_sampling), x_in.shape[0])
                value = (identities.index_of(placed), strength)
                regions[cond["uuid"]] = regions.get(cond["uuid"], ()) + (value,)
            placed = cond.get(TAG)
            if placed is None:
                continue
            _check_mask_batch(cond, x_in, placed)
            _refuse_compiled(model_options, placed)
            strength = placed.strengths_for_batch(placed.strength_at(sigma, model.model_sampling), x_in.shape[0])
            strengths[cond["uuid"]] = (identities.index_of(placed), strength)
    if strengths or regions:
        options = dict(model_options)
        options["transformer_options"] = {**model_options.get("transformer_options", {}), STRENGTHS: strengths,
                                          REGION_STRENGTHS: regions}
        model_options = options
    token = _STEP.set(identities)  # the conds' IdentityCheck is read inside core's batching, in this thread
    try:
        return executor(model, conds, x_in, timestep, model_options)
    finally:
        _STEP.reset(token)


def _check_mask_batch(cond, x_in, placed) -> None:
    """Core's rule for a mask batch: one mask for every image, or a count the latent batch is a multiple of
    (core repeats the masks in turn: mask i goes to images i, i + count, ...)."""
    mask = cond.get("mask")
    count, batch = (mask.shape[0], x_in.shape[0]) if mask is not None else (1, 1)
    if count > batch or batch % count:
        fits = ", ".join(str(count * k) for k in (1, 2, 3))
        raise ValueError(
            f"The mask of the HyperLoRA identity '{placed.label}' holds {count} masks, but the latent batch has "
            f"{batch} images. {count} masks fit a latent batch of {fits}, ... (mask i goes to images i, i + {count}, "
            "...); give one mask (used for every image), one per image, or a batch that is a multiple of the masks.")


def _refuse_area_after(cond, identities: IdentitySet) -> None:
    """Core's area nodes after ours put an area on the background conds we made default ones, which core cannot
    run (a tensor size mismatch inside its batching); before ours, an area cond keeps its area and works."""
    if cond.get("default") and "area" in cond:
        names = ", ".join(f"'{placed.label}'" for placed in identities.identities)
        raise ValueError(
            f"Conditioning (Set Area) or (Set Area with Percentage) comes after HyperLoRA Apply to Conditioning "
            f"(identity {names}): core cannot limit the background conditioning that node made to an area. Move the "
            "area node before Apply to Conditioning (on the prompt you connect to positive or region_positive), or "
            "give the identity a mask instead.")


def _refuse_compiled(model_options: dict, placed) -> None:
    """Core's TorchCompileModel reuses the graph it traced at the first step, which skips the per-call paths the
    identity adds (module hooks are outside its guards): the identity would be lost in silence."""
    wrappers = model_options.get("transformer_options", {}).get("wrappers", {}).get("apply_model", {})
    if COMPILE_KEYS[0] in wrappers or COMPILE_KEYS[1] in model_options:
        raise ValueError(
            f"The model given to the sampler goes through TorchCompileModel, whose compiled graph skips the "
            f"HyperLoRA identity '{placed.label}' placed by Apply to Conditioning. Remove TorchCompileModel from "
            "this model's path, or use HyperLoRA Apply (weights patched), which compiles with the model.")


class IdentityCheck:
    """A model cond on every cond Apply to Conditioning outputs. Core hands each cond's model conds to every UNet
    call it runs in; inside our CALC_COND_BATCH wrapper this passes silently (and APPLY_MODEL drops it), but a
    sampler whose model lacks the identity's wrappers (a plain checkpoint model, a merge that starts from one)
    stops here instead of drawing the image without the person. Concatenates with its kind only, so every cond
    of ours still goes into one batched call."""

    def __init__(self, labels: tuple[str, ...]):
        self.labels = labels

    def process_cond(self, *args, **kwargs):
        if _STEP.get() is None:
            names = ", ".join(f"'{label}'" for label in self.labels)
            raise ValueError(
                f"The conditioning carries the HyperLoRA identity {names}, but the model given to the sampler does "
                "not (a plain checkpoint model, or a model merge whose first model lacks it). Connect the model "
                "output of the last HyperLoRA Apply to Conditioning node to the sampler's model input (in "
                "ModelMergeSimple, as model1).")
        return self

    def can_concat(self, other) -> bool:
        return isinstance(other, IdentityCheck)

    def concat(self, others):
        return self

    def size(self) -> list[int]:
        return [1]

    def __deepcopy__(self, memo):
        return self


def _apply_rows(identities: IdentitySet, executor, x, t, c_concat=None, c_crossattn=None, control=None,
                transformer_options=None, **kwargs):
    """APPLY_MODEL: the call's rows get their identities' low-rank paths on the attention projections."""
    kwargs.pop(CHECK, None)  # IdentityCheck's job is done: it never reaches the UNet
    transformer_options = transformer_options if transformer_options is not None else {}
    strengths = transformer_options.get(STRENGTHS)
    regions = transformer_options.get(REGION_STRENGTHS)
    uuids = transformer_options.get("uuids")
    rows = _row_strengths(identities, strengths, uuids, x.shape[0]) if strengths and uuids else None
    masked = _region_rows(identities, regions, uuids, x) if regions and uuids else None
    if rows is None and masked is None:
        return executor(x, t, c_concat, c_crossattn, control, transformer_options, **kwargs)
    handles = _add_low_rank_paths(executor.class_obj, identities, rows, masked)
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
            if isinstance(strength, tuple):  # one per image: the cond's rows are the latent batch, in order
                if len(strength) != chunk:
                    raise RuntimeError(f"A conditioning of this UNet call has {chunk} rows, but its HyperLoRA "
                                       f"identity has {len(strength)} per-image strengths.")
                strength = torch.tensor(strength)
            rows[index, j * chunk:(j + 1) * chunk] = strength
    return rows if bool(rows.any()) else None


@dataclass(frozen=True)
class RegionRows:
    """One pass identities of one UNet call: their strength per row, and their masks at the latent's size."""

    strengths: torch.Tensor  # (identities, rows)
    masks: torch.Tensor  # (identities, rows, H, W)
    latent: tuple[int, int]  # (H, W)

    def whole_image(self) -> torch.Tensor:
        """(identities, rows) strengths of the identities whose mask covers that row's whole image (or that have
        none): for those the prompt-side projections, which see no image position, get the identity too, so
        such an identity is exactly the patched model's math (Apply's), e.g. one identity per image of a batch."""
        return self.strengths * (self.masks.flatten(2).amin(dim=2) >= 1.0)


def _region_rows(identities: IdentitySet, regions: dict, uuids: list, x: torch.Tensor) -> RegionRows | None:
    """One pass: the strengths and masks of the rows of the conds that carry identities, or None when none does."""
    batch = x.shape[0]
    if batch % len(uuids):
        raise RuntimeError(f"The UNet batch of {batch} rows does not split into {len(uuids)} conditionings.")
    chunk = batch // len(uuids)
    count = len(identities.identities)
    rows = torch.zeros(count, batch)
    masks = torch.zeros(count, batch, *x.shape[-2:])
    for j, cond_uuid in enumerate(uuids):
        for index, strength in regions.get(cond_uuid, ()):
            region = identities.identities[index].region
            rows[index, j * chunk:(j + 1) * chunk] = torch.tensor(strength) if isinstance(strength, tuple) else strength
            if region is None:
                masks[index, j * chunk:(j + 1) * chunk] = 1.0
                continue
            fitted = torch.nn.functional.interpolate(region[:, None].float(), size=x.shape[-2:], mode="bilinear")
            for image in range(chunk):  # core's rule: mask i goes to images i, i + count, ...
                masks[index, j * chunk + image] = fitted[image % region.shape[0], 0]
    return RegionRows(rows, masks, tuple(x.shape[-2:])) if bool(rows.any()) else None


def _attention_size(latent: tuple[int, int], tokens: int) -> tuple[int, int] | None:
    """The (h, w) of the UNet level whose h * w image positions a layer sees (each level halves, rounding up)."""
    h, w = latent
    for _ in range(6):
        if h * w == tokens:
            return h, w
        h, w = (h + 1) // 2, (w + 1) // 2
    return None


def _region_scale(identities: IdentitySet, stacked, masked, x: torch.Tensor):
    """(rows, tokens, R): each row's masked identities' strength per image position and rank channel, with the
    masks resized to this layer's attention resolution; None for layers that see no image positions."""
    rows, masks = masked.strengths, masked.masks
    size = _attention_size(masked.latent, x.shape[1])
    if size is None:
        return None
    small = torch.nn.functional.interpolate(masks, size=size, mode="bilinear")  # (identities, rows, h, w)
    for index, placed in enumerate(identities.identities):
        if bool(rows[index].any()) and float(small[index][rows[index] != 0].amax()) <= 0.0 and \
                size not in placed._warned:
            placed._warned.add(size)
            logger.warning(f"HyperLoRA Apply to Conditioning (one pass): the mask of the identity '{placed.label}' is "
                           f"empty at the attention resolution {size[0]}x{size[1]}, so the identity adds nothing "
                           "there. Make the mask larger, or use region_mode exact.")
    weights = (rows[:, :, None] * small.flatten(2)).permute(1, 2, 0)  # (rows, tokens, identities)
    return (weights @ stacked.channel_scale.to(weights)).to(device=x.device, dtype=x.dtype)


def _add_low_rank_paths(base_model, identities: IdentitySet, rows: torch.Tensor | None, masked=None) -> list:
    """Forward hooks that add every row's identity to the attention projections (one pass: masked per image
    position, on the scene's own rows); their handles."""
    scales: dict = {}

    def scale_for(x):
        """The stacked factors and the per-row scale for x's device and dtype, both made once per UNet call."""
        key = (x.device, x.dtype)
        if key not in scales:
            stacked = identities.stacked_on(x.device, x.dtype)
            scale = row_channel_scale(stacked, rows).to(device=x.device, dtype=x.dtype) if rows is not None else None
            scales[key] = stacked, scale
        return scales[key]

    def hook_for(name):
        weight_key = name + ".weight"

        def add_identity(module, args, output):
            x = args[0]
            stacked, scale = scale_for(x)
            region = None
            if masked is not None and not name.endswith(TEXT_SIDE) and x.ndim == 3:
                key = (x.shape[1], x.device, x.dtype)  # one per attention resolution, shared by its layers
                if key not in scales:
                    scales[key] = _region_scale(identities, stacked, masked, x)
                region = scales[key]
            elif masked is not None:  # prompt tokens: no position to mask; whole-image identities only
                key = ("whole image", x.device, x.dtype)
                if key not in scales:
                    whole = masked.whole_image()
                    scales[key] = (row_channel_scale(stacked, whole).to(device=x.device, dtype=x.dtype)
                                   if bool(whole.any()) else None)
                if scales[key] is not None:
                    scale = scales[key] if scale is None else scale + scales[key]
            if region is not None:
                scale = region if scale is None else region + scale[:, None, :]
            if scale is None:
                return output
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
