"""ComfyUI workflow files: reading and rewiring them, converting the official pack's, upgrading ours."""
