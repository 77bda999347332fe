"""Where the LoRA bases live, where each LoRA is computed, and when ComfyUI may free them.

The bases of a full checkpoint take about 3 GB. Left on the GPU they would squeeze SDXL
out of an 8 GB card, so the device policies are:

- auto: bases in RAM; each LoRA is computed on the GPU when it has room to stream them through
  (`HyperLoRAModel.streaming_bytes()`: a workspace of at most 256 MB plus the LoRA itself),
  otherwise on the CPU.
- gpu:  bases stay on the GPU (fastest when VRAM is plentiful).
- cpu:  bases in RAM, LoRAs computed on the CPU (the engine's chunked path).

What "can take it" means depends on ComfyUI's memory mode (docs/memory.md):

- Classic (ComfyUI without dynamic VRAM, e.g. v0.3.64): on the GPU when get_free_memory reports
  streaming_bytes() plus HEADROOM free, else on the CPU. Every loaded
  checkpoint is registered with the model manager as a ModelPatcher whose size is what the bases
  hold on the GPU (nothing under auto/cpu); when ComfyUI needs the room, or the user presses
  "Unload models", it detaches that patcher and our callback releases the bases (read again from
  disk for the next LoRA).
- Dynamic VRAM (comfy-aimdo, `comfy.memory_management.aimdo_enabled`): resident models fill VRAM
  and stream, so free memory says little. auto computes on the GPU and first asks ComfyUI to free
  just what streaming needs (`free_memory(streaming_bytes + HEADROOM, device)`); if the GPU still
  runs out, that LoRA is computed on the CPU. Bases that are not on the GPU are not registered:
  load_models_gpu of a non-dynamic patcher would make ComfyUI free its inference reserve, pushing
  parts of SDXL out of VRAM for nothing. RAM is then given back through the RAM-pressure cache, to
  which the loaded checkpoint reports its size (`_comfy_cache_tensors`).
"""

from __future__ import annotations

import logging

import torch

DEVICE_POLICIES = ("auto", "gpu", "cpu")
HEADROOM = 64 * 1024 * 1024  # beyond streaming_bytes() under "auto": matmul workspace and allocator slack
OUT_OF_MEMORY = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)

logger = logging.getLogger(__name__)


def dynamic_vram() -> bool:
    """Whether ComfyUI runs with dynamic VRAM (comfy-aimdo); older ComfyUI has no such module."""
    try:
        from comfy import memory_management
    except ImportError:
        return False
    return bool(getattr(memory_management, "aimdo_enabled", False))


def storage_device(policy: str) -> torch.device:
    """Where the bases are kept for a device policy."""
    import comfy.model_management as mm

    return mm.get_torch_device() if policy == "gpu" else torch.device("cpu")


def choose_device(policy: str, gpu: torch.device, free_bytes: int | None, streaming_bytes: int) -> torch.device:
    """Where to combine the bases into one LoRA. free_bytes: the GPU's free memory as ComfyUI reports
    it, or None under dynamic VRAM (ComfyUI frees what we ask for, so the GPU is always used)."""
    if policy == "cpu":
        return torch.device("cpu")
    if policy == "gpu" or gpu.type == "cpu" or free_bytes is None:
        return gpu
    return gpu if free_bytes >= streaming_bytes + HEADROOM else torch.device("cpu")


def compute_plan(policy: str, streaming_bytes: int):
    """(device, make_room): where to combine the bases into one LoRA now, and the callback the engine
    calls with the bytes it needs there (None: nothing to free)."""
    import comfy.model_management as mm

    gpu = mm.get_torch_device() if policy != "cpu" else torch.device("cpu")
    ask = policy == "auto" and gpu.type != "cpu"
    dynamic = ask and dynamic_vram()
    free = mm.get_free_memory(gpu) if ask and not dynamic else None
    device = choose_device(policy, gpu, free, streaming_bytes)
    return device, (room_maker(device) if dynamic else None)


def room_maker(device: torch.device):
    """make_room(bytes) for the engine: ComfyUI frees (from resident models) only what is missing."""
    import comfy.model_management as mm

    def make_room(nbytes: int) -> None:
        mm.free_memory(nbytes + HEADROOM, device)

    return make_room


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
        """The LoRA factors of one coefficient set, computed where the policy says.

        Under auto, a GPU that runs out of memory part way falls back to the CPU for this LoRA.
        """
        self.register()
        self.engine.load_bases()  # after ComfyUI released them: read again before measuring
        device, make_room = compute_plan(self.policy, self.engine.streaming_bytes())
        try:
            factors = self.engine.lora_factors(coefficients, kind, compute_device=device, make_room=make_room)
        except OUT_OF_MEMORY:
            if self.policy != "auto" or device.type == "cpu":
                raise
            import comfy.model_management as mm

            logger.warning("HyperLoRA: the GPU ran out of memory while making a LoRA; making it on the CPU.")
            mm.soft_empty_cache()
            factors = self.engine.lora_factors(coefficients, kind, compute_device=torch.device("cpu"))
        return factors.to(device="cpu")

    def _comfy_cache_tensors(self) -> list[torch.Tensor]:
        """What ComfyUI's RAM-pressure cache counts for a cached checkpoint: the bases (about 3 GB)."""
        return self.engine.tensors()

    def register(self) -> None:
        """Tell ComfyUI's model manager about the bases (again, after it unloaded them)."""
        import comfy.model_management as mm
        import comfy.model_patcher as mp

        on_gpu = self.engine.device.type != "cpu"
        if not on_gpu and dynamic_vram():
            return  # nothing of ours in VRAM; registering would push resident models out (docstring)
        if self._patcher is None:
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
