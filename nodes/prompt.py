"""Trigger Words: HyperLoRA's ID-LoRA only takes effect when the prompt starts with them."""

from __future__ import annotations

from .. import hyperlora_core as hl
from .types import CATEGORY
from .v3 import io, output, schema


def with_trigger_words(prompt: str) -> str:
    prompt = prompt.strip()
    if prompt.startswith(hl.TRIGGER_WORDS):
        return prompt
    return f"{hl.TRIGGER_WORDS}, {prompt}" if prompt else hl.TRIGGER_WORDS


class HyperLoRATriggerWords(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return schema(
            "HyperLoRATriggerWords", display_name="HyperLoRA Trigger Words", category=f"{CATEGORY}/utils",
            description=(f"Puts the trigger words '{hl.TRIGGER_WORDS}' at the start of a prompt (once). HyperLoRA's "
                         "identity only shows when the prompt starts with them."),
            inputs=[io.String.Input("prompt", multiline=True, default="", tooltip=(
                "Your prompt, without the trigger words (they are added unless already at the start). Empty: just "
                "the words."))],
            outputs=[output(io.String, "prompt", "The prompt with the trigger words first: connect to a CLIP Text "
                                                 "Encode text input (drag from its text box).")])

    @classmethod
    def execute(cls, prompt):
        return io.NodeOutput(with_trigger_words(prompt))
