"""The engine: released checkpoints -> coefficients -> LoRA weights and files. Pure torch + safetensors."""
