"""Apply to Conditioning: an identity for a step window and/or a masked region, on the model and the prompt.

The identity lives on the MODEL (identity_runtime: activation-space LoRA per batch row, no weight patching,
no core hooks); the conditioning only says which conds get it. How the conditioning lists are rewritten:

* identity copies: the region prompt (or the scene prompt) tagged with the identity (TAG), limited to the
  step window (intersected with any window the cond already has) and the mask. Positive and negative get
  a copy each, so with cfg > 1 both halves of the prediction inside the mask are the patched model's.
* background: every cond without mask or area that is not an identity copy is marked a *default* cond
  (hooks it already carries, e.g. a core LoRA hook, stay on it). ComfyUI runs default conds only where the
  active conds leave room (weight relu(1 - sum of masks)): outside the window and outside the mask they give
  exactly the plain model, and inside they add nothing, so no identity is diluted.
* chaining: conds that are already default, masked or identity copies are kept as they are (never
  re-marked); the next node's region prompt defaults to the scene prompt, i.e. the default conds, unmarked.
  Every cond of a step, identities and background alike, goes into one batched UNet call.
"""

from __future__ import annotations

import logging
import math

import torch

from ..hyperlora_core.engine.schedule import check_window, fade_keyframes, window_is_empty
from ..hyperlora_core.validate import finite
from .identity_runtime import CHECK as IDENTITY_CHECK
from .identity_runtime import REGIONS as IDENTITY_REGIONS
from .identity_runtime import TAG as IDENTITY_TAG
from .identity_runtime import IdentityCheck, PlacedIdentity, place_identity, require_model_wrappers
from .patching import check_model_matches
from .types import CATEGORY
from .v3 import Coeffs, check_choices, io, output, schema

logger = logging.getLogger(__name__)

PLACED = ("mask", "area", IDENTITY_TAG)  # a cond with any of these already has a place of its own


def is_placed(values: dict) -> bool:
    return any(key in values for key in PLACED)


def is_background(cond) -> bool:
    """A scene cond: already default, or one without mask or area that is not an identity copy."""
    return bool(cond[1].get("default")) or not is_placed(cond[1])


def mark_background(conds: list) -> list:
    """Unplaced conds become default conds (copies); everything else is passed on untouched."""
    out = []
    for tensor, values in conds:
        if not values.get("default") and not is_placed(values):
            values = {**values, "default": True}
        out.append([tensor, values])
    return out


def scene_prompt(conds: list) -> list:
    """The background conds as ordinary conds: what an identity is attached to by default."""
    out = []
    for tensor, values in conds:
        if is_background([tensor, values]):
            values = dict(values)
            values.pop("default", None)
            out.append([tensor, values])
    return out


def attach(conds: list, placed: PlacedIdentity, start: float, end: float, mask) -> list:
    """Copies of conds tagged with the identity, the window intersected with their own, and the mask.
    Conds whose window becomes empty are dropped."""
    out = []
    for tensor, values in conds:
        values = dict(values)
        values.pop("default", None)
        values.pop(IDENTITY_REGIONS, None)  # one pass identities stay on the scene's rows, not this person's
        own_start, own_end = values.get("start_percent", 0.0), values.get("end_percent", 1.0)
        s, e = max(own_start, start), min(own_end, end)
        if window_is_empty(s, e):
            continue
        if s > 0.0 or "start_percent" in values:
            values["start_percent"] = s
        if e < 1.0 or "end_percent" in values:
            values["end_percent"] = e
        if mask is not None:
            values.update(mask=mask, set_area_to_bounds=False, mask_strength=1.0)
        values[IDENTITY_TAG] = placed
        out.append([tensor, values])
    return out


def check_mask(mask, label: str = "identity") -> torch.Tensor:
    """A (B, H, W) float mask in 0..1; a clear error for a wrong shape or NaN/inf values, a warning naming the
    identity for a mask that is empty (in every image, or in some images of a batch of masks)."""
    if mask.ndim == 2:
        mask = mask.unsqueeze(0)
    if mask.ndim != 3 or mask.shape[0] < 1 or mask.shape[-1] < 1 or mask.shape[-2] < 1:
        raise ValueError(f"The mask must be a MASK (height x width, or a batch of them); got shape "
                         f"{tuple(mask.shape)}.")
    if not torch.isfinite(mask).all():
        raise ValueError("The mask contains NaN or infinite values; recreate it (e.g. with Solid Mask or Face "
                         "Mask).")
    empty = [n for n, image in enumerate(mask, start=1) if float(image.max()) <= 0.0]
    if len(empty) == mask.shape[0]:
        logger.warning(f"HyperLoRA Apply to Conditioning: the mask of the identity '{label}' is empty, so the identity "
                       "shows nowhere. Connect a mask that is white where the person is (e.g. HyperLoRA Face Mask), "
                       "or disconnect it for the whole image.")
    elif empty:
        logger.warning(f"HyperLoRA Apply to Conditioning: the mask of the identity '{label}' is empty in image(s) "
                       f"{', '.join(map(str, empty))} of {mask.shape[0]}, so the identity shows nowhere in those "
                       "images. Check the masks of those images (e.g. no face found by Face Mask).")
    return mask.float().clamp(0.0, 1.0)


def apply_identity(positive, negative, placed: PlacedIdentity, start: float, end: float, mask=None,
                   region_positive=None):
    """(positive, negative) with the identity's copies added and the scene marked as background."""
    source = region_positive if region_positive is not None else scene_prompt(positive)
    if not source:
        raise ValueError("The positive conditioning has no prompt without a mask of its own to give the "
                         "identity to; connect the person's prompt to region_positive.")
    copies = attach(source, placed, start, end, mask)
    if not copies:
        which = "region_positive" if region_positive is not None else "positive"
        raise ValueError(f"The {which} prompt only acts outside the identity's window (start_at {start:g} to end_at "
                         f"{end:g}; it has a timestep range of its own), so the identity would never show. Widen "
                         "the window or the prompt's own timestep range so that they overlap.")
    return (with_check(mark_background(positive) + copies, placed.label),
            with_check(mark_background(negative) + attach(scene_prompt(negative), placed, start, end, mask),
                       placed.label))


REGION_MODES = ("exact", "one pass")


def one_pass_keyframes(start: float, end: float, fade_in: float, fade_out: float) -> list[tuple[float, float]]:
    """One pass has no conds of its own whose window core enforces: the window goes into the keyframes (0 before
    start_at and from end_at on)."""
    keyframes = fade_keyframes(start, end, fade_in, fade_out) or [(start, 1.0)]
    if keyframes[0][0] > 0.0:
        keyframes = [(0.0, 0.0)] + keyframes
    if end < 1.0:
        keyframes = keyframes + [(end, 0.0)]
    return keyframes


def apply_one_pass(positive, negative, placed: PlacedIdentity):
    """(positive, negative) whose scene conds carry the identity on their own rows (masked inside the model): no
    conds are added, so the UNet batch stays that of the plain prompt."""
    def tag(conds):
        out = []
        for tensor, values in conds:
            if is_background([tensor, values]):
                values = {**values, IDENTITY_REGIONS: tuple(values.get(IDENTITY_REGIONS, ())) + (placed,)}
            out.append([tensor, values])
        return out

    if not any(is_background(c) for c in positive):
        raise ValueError("The positive conditioning has no scene prompt (one without a mask or area of its own) for "
                         "the one pass identity to act on; connect the scene prompt, or use region_mode exact.")
    return with_check(tag(positive), placed.label), with_check(tag(negative), placed.label)


def with_check(conds: list, label: str) -> list:
    """Every cond gets the IdentityCheck (naming each identity placed so far): sampled with a model that does not
    carry the identities, they stop the run; all of them together, so ours still batch into one call."""
    out = []
    for tensor, values in conds:
        model_conds = dict(values.get("model_conds", {}))
        earlier = model_conds.get(IDENTITY_CHECK)
        labels = earlier.labels if isinstance(earlier, IdentityCheck) else ()
        model_conds[IDENTITY_CHECK] = IdentityCheck(labels + (label,) if label not in labels else labels)
        out.append([tensor, {**values, "model_conds": model_conds}])
    return out


def parse_strengths(text) -> tuple[float, ...]:
    """A strength list typed by the user ("0.6, 0.8, 1.0"; commas, semicolons or spaces): () when empty."""
    if text is None:
        return ()
    if not isinstance(text, str):
        text = str(text)
    values = []
    for item in text.replace(";", ",").replace(" ", ",").split(","):
        if not item.strip():
            continue
        try:
            value = float(item)
        except ValueError:
            raise ValueError(f"strengths: '{item.strip()}' is not a number. Type numbers separated by commas, e.g. "
                             "'0.6, 0.8, 1.0' (one per image of the latent batch), or leave it empty.") from None
        if not math.isfinite(value) or abs(value) > 4.0:
            raise ValueError(f"strengths: {item.strip()} is outside -4 to 4 (0.6 to 1.0 is the usual range).")
        values.append(value)
    return tuple(values)


def _fraction(name: str, default: float, tooltip: str, optional: bool = False):
    return io.Float.Input(name, optional=optional, default=default, min=0.0, max=1.0, step=0.01, tooltip=tooltip)


class HyperLoRAApplyConditioning(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return schema(
            "HyperLoRAApplyConditioning", display_name="HyperLoRA Apply to Conditioning (when / where)",
            category=f"{CATEGORY}/control",
            description=("Places an identity only from start_at to end_at of the steps (e.g. from 0.3, after the "
                         "composition is set), with optional fades, and with a mask only inside it. Chain one per "
                         "person, each with its own mask, passing model, positive and negative on; connect the last "
                         "node's three outputs to the KSampler. The identity rides on the model without patching its "
                         "weights and without core hooks, so dynamic VRAM stays on; every person and the background "
                         "go into one batched model call per step. With strengths, each image of the latent batch "
                         "gets its own strength (a strength sweep in one run). Plain HyperLoRA Apply is faster for "
                         "one identity on the whole image."),
            inputs=[
                io.Model.Input("model", tooltip="The SDXL model (from the checkpoint loader, or from the previous "
                                                "Apply to Conditioning when several people are placed)."),
                io.Conditioning.Input("positive", tooltip="The scene prompt (starting with the trigger words)."),
                io.Conditioning.Input("negative", tooltip="The negative prompt."),
                Coeffs.Input("coefficients", tooltip="From Predict Coefficients or Mix Identities."),
                io.Float.Input("strength", default=0.8, min=-4.0, max=4.0, step=0.01, tooltip=(
                    "How strongly the identity is applied (0.75-0.85 usually). 0 turns it off.")),
                _fraction("start_at", 0.0, "When the identity starts, as a fraction of the steps (0 = first "
                                           "step). Later starts let the prompt set the composition first."),
                _fraction("end_at", 1.0, "When the identity stops (1 = last step); must be after start_at."),
                io.Mask.Input("mask", optional=True, tooltip=(
                    "Where the identity goes (white = this person): one mask for every image, or one per image of "
                    "the batch. Without a mask: the whole image. Outside every mask the plain model draws the "
                    "scene.")),
                io.Conditioning.Input("region_positive", optional=True, tooltip=(
                    "The prompt for this person inside the mask (e.g. 'a woman with red hair'); defaults to the "
                    "scene prompt. Needs a mask.")),
                _fraction("fade_in", 0.0, "Fraction of the steps over which the strength ramps up from start_at.",
                          optional=True),
                _fraction("fade_out", 0.0, "Fraction of the steps over which the strength ramps down to end_at.",
                          optional=True),
                io.Combo.Input("region_mode", options=list(REGION_MODES), default="exact", optional=True, tooltip=(
                    "exact: the person's region is drawn by the model patched with the identity (one extra prompt "
                    "row per person, e.g. 2-2.5x a plain Apply for two people and a background). one pass: no "
                    "extra rows; the identity's LoRA output is added masked inside attention on the scene prompt "
                    "(about the cost of a plain Apply, close to exact but not identical; no region_positive).")),
                io.String.Input("strengths", optional=True, default="", tooltip=(
                    "A strength per image of the latent batch, e.g. '0.6, 0.8, 1.0' with three images: a strength "
                    "sweep in one run, each image with its own strength. For the same noise on every image (only the "
                    "strength differs), connect it and the latent from HyperLoRA Repeat Latent (same noise). "
                    "Replaces strength; empty = strength for every image. Needs as many values as images.")),
            ],
            outputs=[
                output(io.Conditioning, "positive", "The positive conditioning with the identity's region and "
                                                    "window: connect to KSampler (or the next Apply to Conditioning "
                                                    "for another person)."),
                output(io.Conditioning, "negative",
                       "The negative conditioning, with the same region and window: connect to KSampler."),
                output(io.Model, "model", "The model carrying the identity (its weights unchanged): connect to "
                                          "KSampler, or to the next Apply to Conditioning, which adds its person "
                                          "to it."),
            ])

    @classmethod
    def execute(cls, model, positive, negative, coefficients, strength, start_at, end_at, mask=None,
                region_positive=None, fade_in=0.0, fade_out=0.0, region_mode="exact", strengths=""):
        check_choices(cls, region_mode=(region_mode, REGION_MODES))
        start, end, fade_in, fade_out = check_window(start_at, end_at, fade_in, fade_out)
        strength = finite(strength, "strength")
        image_strengths = parse_strengths(strengths)
        if len(image_strengths) == 1:
            strength, image_strengths = image_strengths[0], ()
        elif image_strengths:
            strength = 1.0 if any(image_strengths) else 0.0
        if window_is_empty(start, end):
            raise ValueError(f"start_at ({start:g}) must be before end_at ({end:g}), or the identity never acts. "
                             "Set end_at after start_at (1 = the last step); to turn the identity off, set strength "
                             "to 0.")
        if region_positive is not None and mask is None:
            raise ValueError("region_positive gives a person their own prompt inside their mask, but no mask is "
                             "connected, so it would replace the scene prompt over the whole image. Connect a mask, "
                             "or connect that prompt to positive instead.")
        one_pass = region_mode == "one pass"
        if one_pass and region_positive is not None:
            raise ValueError("region_mode 'one pass' adds the identity on the scene prompt's own rows, so it cannot "
                             "give the person a region_positive prompt. Disconnect region_positive, or set "
                             "region_mode to exact.")
        require_model_wrappers(model)
        if strength == 0.0:
            return io.NodeOutput(positive, negative, model)
        mask = check_mask(mask, coefficients.label) if mask is not None else None
        factors = coefficients.factors("id")
        check_model_matches(model, factors)
        keyframes = (one_pass_keyframes if one_pass else fade_keyframes)(start, end, fade_in, fade_out)
        placed = PlacedIdentity(factors, strength, keyframes, label=coefficients.label,
                                image_strengths=image_strengths, region=mask if one_pass else None)
        if one_pass:
            return io.NodeOutput(*apply_one_pass(positive, negative, placed), place_identity(model, placed))
        return io.NodeOutput(*apply_identity(positive, negative, placed, start, end, mask, region_positive),
                             place_identity(model, placed))

