"""Where the LoRA bases live, where each LoRA is computed, and when ComfyUI may free them.

The bases of a full checkpoint take about 3 GB. Left on the GPU they would squeeze SDXL
out of an 8 GB card, so the device policies are:

- auto: bases in RAM; each LoRA is computed on the GPU when ComfyUI reports room for the
  bases there (they only pass through, group by group), otherwise on the CPU.
- gpu:  bases stay on the GPU (fastest when VRAM is plentiful).
- cpu:  bases in RAM, LoRAs computed on the CPU (the engine's chunked path).

Every loaded checkpoint is registered with ComfyUI's model manager as a ModelPatcher whose
size is what the bases hold on the GPU (nothing under auto/cpu). When ComfyUI needs the room,
or the user presses "Unload models", it detaches that patcher and our callback releases the
bases; the engine reads them again from disk the next time a LoRA is made.
"""

from __future__ import annotations

import torch

DEVICE_POLICIES = ("auto", "gpu", "cpu")
GPU_HEADROOM = 512 * 1024 * 1024  # room left for the computed LoRA and other buffers under "auto"


def storage_device(policy: str) -> torch.device:
    """Where the bases are kept for a device policy."""
    import comfy.model_management as mm

    return mm.get_torch_device() if policy == "gpu" else torch.device("cpu")


def compute_device(policy: str, basis_bytes: int) -> torch.device:
    """Where to combine the bases into one LoRA now."""
    import comfy.model_management as mm

    if policy == "cpu":
        return torch.device("cpu")
    gpu = mm.get_torch_device()
    if policy == "gpu" or gpu.type == "cpu":
        return gpu
    return gpu if mm.get_free_memory(gpu) > basis_bytes + GPU_HEADROOM else torch.device("cpu")


class _BasesHandle(torch.nn.Module):
    """Weightless module that stands for the bases in ComfyUI's model manager."""


class ManagedHyperLoRA:
    """A loaded HyperLoRA checkpoint (the HYPERLORA socket) plus its device policy."""

    def __init__(self, engine, name: str, policy: str):
        if policy not in DEVICE_POLICIES:
            raise ValueError(f"Unknown device policy '{policy}'. Use one of {', '.join(DEVICE_POLICIES)}.")
        self.engine = engine
        self.name = name
        self.policy = policy
        self._patcher = None

    def __repr__(self) -> str:
        return f"HyperLoRA({self.name}, {self.policy}, {self.engine!r})"

    @property
    def config(self):
        return self.engine.config

    @property
    def has_base(self) -> bool:
        return self.engine.has_base

    def factors(self, coefficients: torch.Tensor, kind: str = "id"):
        """The LoRA factors of one coefficient set, computed where the policy says."""
        self.register()
        self.engine.load_bases()  # after ComfyUI released them: read again before measuring
        device = compute_device(self.policy, self.engine.basis_bytes())
        factors = self.engine.lora_factors(coefficients, kind, compute_device=device)
        return factors.to(device="cpu")

    def register(self) -> None:
        """Tell ComfyUI's model manager about the bases (again, after it unloaded them)."""
        import comfy.model_management as mm
        import comfy.model_patcher as mp

        if self._patcher is None:
            on_gpu = self.engine.device.type != "cpu"
            size = self.engine.basis_bytes() if on_gpu else 0
            self._patcher = mp.ModelPatcher(_BasesHandle(), load_device=mm.get_torch_device(),
                                            offload_device=torch.device("cpu"), size=size)
            self._patcher.add_callback(mp.CallbacksMP.ON_DETACH, self._on_detach)
        if any(m is self._patcher for m in mm.loaded_models()):
            return
        handle = self._patcher.model
        if self._patcher.size and self.engine.basis_bytes():
            handle.device = self._patcher.load_device  # already there: ComfyUI need not make room
            handle.model_loaded_weight_memory = self._patcher.size
        mm.load_models_gpu([self._patcher])
        # The handle has no weights of its own: report the bases as loaded, so ComfyUI counts
        # them and does not try to make room for them again on every call.
        handle.model_loaded_weight_memory = self._patcher.size

    def _on_detach(self, patcher, unpatch_all) -> None:
        self.engine.release()
        if self.engine.device.type != "cpu":
            import comfy.model_management as mm

            mm.soft_empty_cache()
