"""LoRA module names: diffusers-style and LDM-style kohya names, and ComfyUI model keys.

The released JSON uses diffusers-style kohya names
(``lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1``); kohya
sd-scripts expects the LDM spelling (``lora_unet_input_blocks_4_1_...``);
ComfyUI patches ``diffusion_model.input_blocks.4.1.transformer_blocks.0.attn1.to_q.weight``.
"""

from __future__ import annotations

import re

PROJECTIONS = ("to_q", "to_k", "to_v", "to_out")
KOHYA_PROJECTION = {"to_q": "to_q", "to_k": "to_k", "to_v": "to_v", "to_out": "to_out_0"}
MODEL_PROJECTION = {"to_q": "to_q", "to_k": "to_k", "to_v": "to_v", "to_out": "to_out.0"}
TRIGGER_WORDS = "fcsks fxhks fhyks"

_DIFFUSERS = re.compile(
    r"^lora_unet_(?:(?P<kind>down|up)_blocks_(?P<block>\d+)_attentions_(?P<attn>\d+)|mid_block_attentions_0)"
    r"_transformer_blocks_(?P<tb>\d+)_(?P<attn_n>attn[12])$"
)
_LDM = re.compile(
    r"^lora_unet_(?:(?P<kind>input|output)_blocks_(?P<block>\d+)_1|middle_block_1)"
    r"_transformer_blocks_(?P<tb>\d+)_(?P<attn_n>attn[12])$"
)


def ldm_block(name: str) -> tuple[str, int, str]:
    """Return (LDM block path, transformer block index, attn1|attn2) for either spelling.

    The down/up block arithmetic is the UNet's (three entries per resolution level), so
    it matches the spec's table for SDXL and also holds for SD1.5 layouts.
    """
    m = _DIFFUSERS.match(name)
    if m:
        if m["kind"] == "down":
            path = f"input_blocks.{3 * int(m['block']) + int(m['attn']) + 1}.1"
        elif m["kind"] == "up":
            path = f"output_blocks.{3 * int(m['block']) + int(m['attn'])}.1"
        else:
            path = "middle_block.1"
        return path, int(m["tb"]), m["attn_n"]
    m = _LDM.match(name)
    if m:
        if m["kind"] == "input":
            path = f"input_blocks.{m['block']}.1"
        elif m["kind"] == "output":
            path = f"output_blocks.{m['block']}.1"
        else:
            path = "middle_block.1"
        return path, int(m["tb"]), m["attn_n"]
    raise ValueError(
        f"'{name}' is not a LoRA module name this pack understands. Expected names such as "
        "'lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1' (diffusers style) or "
        "'lora_unet_input_blocks_4_1_transformer_blocks_0_attn1' (LDM style)."
    )


def ldm_style_name(name: str) -> str:
    """The kohya sd-scripts (LDM-style) spelling of a module name."""
    path, tb, attn = ldm_block(name)
    return f"lora_unet_{path.replace('.', '_')}_transformer_blocks_{tb}_{attn}"


def model_key(name: str, projection: str) -> str:
    """The ComfyUI state-dict key of the weight that `projection` of module `name` patches."""
    path, tb, attn = ldm_block(name)
    return f"diffusion_model.{path}.transformer_blocks.{tb}.{attn}.{MODEL_PROJECTION[projection]}.weight"


def kohya_module(name: str, projection: str) -> str:
    """`{name}_{to_q|to_k|to_v|to_out_0}`, the prefix of a kohya LoRA key."""
    return f"{name}_{KOHYA_PROJECTION[projection]}"
