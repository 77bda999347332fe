"""Trigger Words: HyperLoRA's ID-LoRA only takes effect when the prompt starts with them."""

from __future__ import annotations

from .. import hyperlora_core as hl
from .types import CATEGORY


def with_trigger_words(prompt: str) -> str:
    prompt = prompt.strip()
    if prompt.startswith(hl.TRIGGER_WORDS):
        return prompt
    return f"{hl.TRIGGER_WORDS}, {prompt}" if prompt else hl.TRIGGER_WORDS


class HyperLoRATriggerWords:
    DESCRIPTION = (f"Puts the trigger words '{hl.TRIGGER_WORDS}' at the start of a prompt (once). HyperLoRA's "
                   "identity only shows when the prompt starts with them.")
    CATEGORY = f"{CATEGORY}/utils"
    FUNCTION = "prepend"
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("prompt",)
    OUTPUT_TOOLTIPS = (("The prompt with the trigger words first: connect to a CLIP Text Encode text input "
                       "(drag from its text box)."),)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "prompt": ("STRING", {"multiline": True, "default": "", "tooltip": "Your prompt, without the trigger "
                                  "words (they are added unless already at the start). Empty: just the words."}),
        }}

    def prepend(self, prompt):
        return (with_trigger_words(prompt),)
