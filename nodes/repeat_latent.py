"""Repeat Latent (same noise): the latent of a strength sweep, one copy per strength, all with the same noise.

Apply to Conditioning's `strengths` gives each image of the latent batch its own strength; for the images to
differ ONLY in strength, they need the same noise too. Core draws a latent's noise per `batch_index` (images
with the same index get the same noise of the seed; core's Repeat Latent Batch numbers its copies anew, so each
gets other noise). Here every copy keeps the original image's batch_index, so image i equals a separate run of
batch size 1 at strength i with the same seed. The node takes the same strengths text as Apply to Conditioning
and passes it on, so the number of copies always matches the number of strengths.
"""

from __future__ import annotations

from .conditioning import parse_strengths
from .types import CATEGORY
from .v3 import io, output, schema

EXAMPLE = "0.6, 0.8, 1.0"
MAX_COPIES = 64  # more images than this in one sweep is a typo, and would not fit in memory anyway


def check_latent(latent) -> dict:
    """A LATENT of ONE image: what the node repeats (a batch would mix several noises into the sweep)."""
    samples = latent.get("samples") if isinstance(latent, dict) else None
    if not hasattr(samples, "shape") or len(samples.shape) < 3:
        raise ValueError("HyperLoRA Repeat Latent: latent must be a LATENT (e.g. from Empty Latent Image); got "
                         f"{type(latent).__name__}. Connect a latent output to it.")
    if samples.shape[0] != 1:
        raise ValueError(f"HyperLoRA Repeat Latent: the latent has {samples.shape[0]} images, but a sweep repeats ONE "
                         "image (one copy per strength, all with the same noise). Set batch_size to 1 in Empty "
                         "Latent Image (or pick one image with Latent From Batch).")
    return latent


def sweep_strengths(text) -> tuple[float, ...]:
    """The strengths text: at least one number, at most MAX_COPIES (parse_strengths checks each number)."""
    values = parse_strengths(text)
    if not values:
        raise ValueError(f"HyperLoRA Repeat Latent: strengths is empty. Type one strength per image, e.g. "
                         f"'{EXAMPLE}' (three images).")
    if len(values) > MAX_COPIES:
        raise ValueError(f"HyperLoRA Repeat Latent: strengths lists {len(values)} values; at most {MAX_COPIES} images "
                         "fit one sweep. Split the sweep over several runs.")
    return values


def repeat_latent(latent: dict, count: int) -> dict:
    """`count` copies of a one-image latent, each with the original's batch_index (0 without one): same noise.
    A noise mask of one image is repeated with it; every other key (e.g. the latent type) is kept."""
    samples = latent["samples"]
    out = {**latent, "samples": samples.repeat(count, *([1] * (samples.ndim - 1)))}
    index = (latent.get("batch_index") or [0])[0]
    out["batch_index"] = [index] * count
    mask = latent.get("noise_mask")
    if mask is not None and mask.shape[0] == 1:
        out["noise_mask"] = mask.repeat(count, *([1] * (mask.ndim - 1)))
    return out


class HyperLoRARepeatLatent(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return schema(
            "HyperLoRARepeatLatent", display_name="HyperLoRA Repeat Latent (same noise)",
            category=f"{CATEGORY}/control",
            description=("The latent of a strength sweep: one copy of a one-image latent per strength, all with the "
                         "same noise, so the images differ only in the identity's strength (image i looks as a "
                         "separate run at strength i with the same seed). Type the strengths here and connect the "
                         "strengths output to Apply to Conditioning's strengths, the latent to the KSampler. Core's "
                         "Repeat Latent Batch gives every copy other noise."),
            inputs=[
                io.Latent.Input("latent", tooltip=(
                    "One image to sample (Empty Latent Image with batch_size 1, or an encoded image): it is "
                    "repeated to one copy per strength, keeping its noise.")),
                io.String.Input("strengths", default=EXAMPLE, tooltip=(
                    "One strength per image, separated by commas, e.g. '0.6, 0.8, 1.0' (three images, each between "
                    "-4 and 4). Connect the strengths output to Apply to Conditioning, so both use this list.")),
            ],
            outputs=[
                output(io.Latent, "latent", "One copy per strength, all with the same noise: connect to KSampler."),
                output(io.String, "strengths", "The strengths, as read (e.g. '0.6, 0.8, 1'): connect to Apply to "
                                               "Conditioning's strengths, so its list always matches the copies."),
            ])

    @classmethod
    def execute(cls, latent, strengths=EXAMPLE):
        values = sweep_strengths(strengths)
        latent = check_latent(latent)
        return io.NodeOutput(repeat_latent(latent, len(values)), ", ".join(f"{value:g}" for value in values))
