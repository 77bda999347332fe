"""A small, documented stand-in for the few ComfyUI APIs the nodes call, for tests without ComfyUI.

Each piece mirrors the real v0.3.64 behaviour the nodes rely on, and records what it was given:

* `folder_paths`: models_dir, folder_names_and_paths, add_model_folder_path (append unless present;
  a new name starts with an empty extension set), get_folder_paths, get_filename_list (recursive,
  filtered by extension, empty set = every file), get_output_directory, get_temp_directory.
* `comfy.model_patcher.ModelPatcher`: clone() copies the patch lists; add_patches(patches, strength)
  records (strength, adapter) per key that exists in the model's state dict and returns those keys;
  model_state_dict(); add_callback / detach() with CallbacksMP.ON_DETACH; keyed wrappers
  (add_wrapper_with_key, remove_wrappers_with_key, get_wrappers; clone() copies the lists, as the real one).
* `comfy.patcher_extension.WrappersMP`: the wrapper type names (CALC_COND_BATCH, APPLY_MODEL, ...). What
  ComfyUI's sampler passes to those wrappers is tested on real ComfyUI (tests/integration/test_comfyui_control.py).
* `comfy.weight_adapter.LoRAAdapter(loaded_keys, weights)`: keeps `weights`; `delta()` computes
  strength-free alpha / rank * up @ down as ComfyUI's calculate_weight does.
* `comfy.model_management`: CPU only; load_models_gpu records loaded patchers (loaded_models lists
  them), unload_all_models
  detaches them (as ComfyUI's free_memory does), get_free_memory returns `free_vram`.
  VRAM bookkeeping, for the memory policies: `free_vram` bytes are free and `resident_vram` bytes
  hold other models' weights (SDXL). free_memory(bytes, device) frees only the shortfall
  (bytes - free_vram) from the resident weights, as ComfyUI partially unloads models, and counts it
  in `pushed_out`; every call is recorded in `free_calls`. load_models_gpu on a non-CPU device first
  frees size x 1.1 + `minimum_inference_memory` (ComfyUI's inference reserve), as the real one does
  for a non-dynamic patcher; its calls are recorded in `load_calls`.
* Dynamic VRAM mode (`install(..., dynamic_vram=True)`, fixture `comfy_dynamic_vram`): adds
  `comfy.memory_management` with `aimdo_enabled = True`, as newer ComfyUI with comfy-aimdo has. The
  classic mode has no such module, like v0.3.64.
* `comfy.utils.ProgressBar`: records every update_absolute(value, total).
* `comfy.clip_vision.load(path)`: a transformers CLIPVisionModel from the file's folder behind
  ComfyUI's ClipVisionModel interface (model(pixel_values, intermediate_output=-2) -> (last,
  penultimate, pooled, None), patcher, load_device).
* `comfy.hooks` (the parts the hook nodes build, not the sampling side): WeightHook(strength_model,
  strength_clip) with weights / weights_clip / need_weight_init / hook_keyframe / custom_should_register
  and should_register(model, model_options, target_dict, registered); HookGroup (add without duplicates,
  clone and clone_and_combine clone every hook, so they make new objects as the real ones do);
  HookKeyframe(strength, start_percent, guarantee_steps); HookKeyframeGroup (add keeps keyframes sorted by
  start_percent, clone); EnumWeightTarget.Model / .Clip. Which strength runs at which step is ComfyUI's
  sampling code and is tested on real ComfyUI only (tests/integration/test_comfyui_hooks.py).

* `comfy_api.latest`, ComfyUI's V3 node API: tests/comfy_api_standin.py (documented there).

`install(monkeypatch, root)` puts the modules into sys.modules for one test; `load_pack()` imports the
pack the way ComfyUI does (package from its __init__.py under a module name of our choosing);
`node_classes(pack)` lists its nodes by id from comfy_entrypoint(), as ComfyUI registers them, and
`run_node(cls, ...)` runs one as ComfyUI's executor does (hidden inputs on a class clone, execute's
result normalised to a NodeOutput). `V1Call` keeps the tests' V1-style calls (`node.load(...)`).
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import os
import shutil
import sys
import types
from pathlib import Path
from typing import ClassVar

import pytest
import torch

from tests.comfy_api_standin import install_comfy_api

PACK_ROOT = Path(__file__).resolve().parents[1]
PACK_MODULE = "comfyui_hyperlora_under_test"  # not "hyperlora_pack": tests/test_setup_route.py uses that name


# -- folder_paths -------------------------------------------------------------------------------
def make_folder_paths(root: Path) -> types.ModuleType:
    fp = types.ModuleType("folder_paths")
    fp.base_path = str(root)
    fp.models_dir = str(root / "models")
    fp.folder_names_and_paths = {"clip_vision": ([str(root / "models" / "clip_vision")], {".safetensors"})}
    fp.output_directory = str(root / "output")
    fp.temp_directory = str(root / "temp")

    def add_model_folder_path(name, path, is_default=False):
        if name in fp.folder_names_and_paths:
            paths = fp.folder_names_and_paths[name][0]
            if path not in paths:
                paths.insert(0, path) if is_default else paths.append(path)
        else:
            fp.folder_names_and_paths[name] = ([path], set())

    def get_folder_paths(name):
        return list(fp.folder_names_and_paths[name][0])

    def get_filename_list(name):
        paths, extensions = fp.folder_names_and_paths[name]
        found = set()
        for base in paths:
            for folder, _, files in os.walk(base, followlinks=True):
                for file in files:
                    if not extensions or os.path.splitext(file)[1].lower() in extensions:
                        found.add(os.path.relpath(os.path.join(folder, file), base))
        return sorted(found)

    fp.add_model_folder_path = add_model_folder_path
    fp.get_folder_paths = get_folder_paths
    fp.get_filename_list = get_filename_list
    fp.get_output_directory = lambda: fp.output_directory
    fp.get_temp_directory = lambda: fp.temp_directory
    return fp


# -- comfy.model_patcher / comfy.weight_adapter ------------------------------------------------------
class CallbacksMP:
    ON_DETACH = "on_detach"


class WrappersMP:
    OUTER_SAMPLE = "outer_sample"
    CALC_COND_BATCH = "calc_cond_batch"
    APPLY_MODEL = "apply_model"
    DIFFUSION_MODEL = "diffusion_model"


class ModelPatcher:
    def __init__(self, model, load_device=None, offload_device=None, size=0):
        self.model = model
        self.load_device = load_device
        self.offload_device = offload_device
        self.size = size
        self.patches: dict[str, list] = {}
        self.callbacks: dict[str, list] = {}
        self.wrappers: dict[str, dict[str, list]] = {}
        if not hasattr(model, "model_loaded_weight_memory"):
            model.model_loaded_weight_memory = 0
        if not hasattr(model, "device"):
            model.device = offload_device

    def clone(self):
        n = ModelPatcher(self.model, self.load_device, self.offload_device, self.size)
        n.patches = {k: list(v) for k, v in self.patches.items()}
        n.wrappers = {kind: {key: list(w) for key, w in by_key.items()} for kind, by_key in self.wrappers.items()}
        return n

    def add_wrapper_with_key(self, wrapper_type, key, wrapper):
        self.wrappers.setdefault(wrapper_type, {}).setdefault(key, []).append(wrapper)

    def remove_wrappers_with_key(self, wrapper_type, key):
        self.wrappers.get(wrapper_type, {}).pop(key, None)

    def get_wrappers(self, wrapper_type, key):
        return self.wrappers.get(wrapper_type, {}).get(key, [])

    def model_state_dict(self):
        return self.model.state_dict()

    def add_patches(self, patches, strength_patch=1.0, strength_model=1.0):
        state = self.model.state_dict()
        added = []
        for key, adapter in patches.items():
            if key in state:
                self.patches.setdefault(key, []).append((strength_patch, adapter))
                added.append(key)
        return added

    def patched_weight(self, key):
        """W + sum of strength * delta, what ComfyUI's calculate_weight gives for LoRA patches."""
        weight = self.model.state_dict()[key].float().clone()
        for strength, adapter in self.patches.get(key, []):
            weight += strength * adapter.delta()
        return weight

    def add_callback(self, kind, callback):
        self.callbacks.setdefault(kind, []).append(callback)

    def detach(self, unpatch_all=True):
        self.model.device = self.offload_device
        self.model.model_loaded_weight_memory = 0
        for callback in self.callbacks.get(CallbacksMP.ON_DETACH, []):
            callback(self, unpatch_all)


class LoRAAdapter:
    def __init__(self, loaded_keys, weights):
        self.loaded_keys = loaded_keys
        self.weights = weights

    def delta(self):
        up, down, alpha = self.weights[0].float(), self.weights[1].float(), self.weights[2]
        scale = alpha / down.shape[0] if alpha is not None else 1.0
        return scale * up @ down


# -- comfy.model_management / comfy.utils / comfy.clip_vision ---------------------------------------
def make_model_management() -> types.ModuleType:
    mm = types.ModuleType("comfy.model_management")
    mm.free_vram = 0
    mm.resident_vram = 0
    mm.pushed_out = 0
    mm.free_calls: list[tuple[float, torch.device]] = []
    mm.load_calls: list[list] = []
    mm.minimum_inference_memory = 1.2 * (1 << 30)
    mm.loaded: list[ModelPatcher] = []
    mm.get_torch_device = lambda: torch.device("cpu")
    mm.get_free_memory = lambda dev=None: mm.free_vram
    mm.soft_empty_cache = lambda force=False: None

    def free_memory(memory_required, device, keep_loaded=(), for_dynamic=False, **kwargs):
        mm.free_calls.append((memory_required, device))
        moved = max(0, min(memory_required - mm.free_vram, mm.resident_vram))
        mm.resident_vram -= moved
        mm.free_vram += moved
        mm.pushed_out += moved
        return []

    def load_models_gpu(models, *args, **kwargs):
        mm.load_calls.append(list(models))
        new = [m for m in models if m not in mm.loaded]
        devices = {m.load_device for m in new if m.load_device is not None and m.load_device.type != "cpu"}
        for device in devices:
            size = sum(m.size for m in new if m.load_device == device)
            free_memory(size * 1.1 + mm.minimum_inference_memory, device)
        for m in new:
            mm.loaded.append(m)

    def unload_all_models():
        while mm.loaded:
            mm.loaded.pop().detach(True)

    mm.free_memory = free_memory
    mm.load_models_gpu = load_models_gpu
    mm.loaded_models = lambda only_currently_used=False: list(mm.loaded)
    mm.load_model_gpu = lambda m: load_models_gpu([m])
    mm.unload_all_models = unload_all_models
    return mm


class ProgressBar:
    updates: ClassVar[list[tuple[int, int]]] = []

    def __init__(self, total, node_id=None):
        self.total = total

    def update_absolute(self, value, total=None, preview=None):
        ProgressBar.updates.append((value, total if total is not None else self.total))


class StandinClipVision:
    """ComfyUI's ClipVisionModel interface over a transformers CLIPVisionModel folder."""

    def __init__(self, folder):
        from transformers import CLIPVisionModel

        self.transformers_model = CLIPVisionModel.from_pretrained(str(folder), local_files_only=True).eval()
        self.load_device = torch.device("cpu")
        self.patcher = ModelPatcher(torch.nn.Module(), self.load_device, self.load_device)
        self.model = self._forward

    @torch.inference_mode()
    def _forward(self, pixel_values, intermediate_output=None):
        assert intermediate_output == -2, "the nodes must ask for the penultimate layer"
        out = self.transformers_model(pixel_values=pixel_values, output_hidden_states=True)
        return out.last_hidden_state, out.hidden_states[-2], out.pooler_output, None


def make_clip_vision() -> types.ModuleType:
    cv = types.ModuleType("comfy.clip_vision")
    cv.loaded_paths = []

    def load(path):
        cv.loaded_paths.append(path)
        return StandinClipVision(Path(path).parent)

    cv.load = load
    return cv


# -- comfy.hooks --------------------------------------------------------------------------------------
def make_hooks() -> types.ModuleType:
    import enum

    hooks = types.ModuleType("comfy.hooks")

    class EnumWeightTarget(enum.Enum):
        Model = "model"
        Clip = "clip"

    class HookKeyframe:
        def __init__(self, strength, start_percent=0.0, guarantee_steps=1):
            self.strength, self.start_percent, self.guarantee_steps = strength, float(start_percent), guarantee_steps

        def clone(self):
            return HookKeyframe(self.strength, self.start_percent, self.guarantee_steps)

    class HookKeyframeGroup:
        def __init__(self):
            self.keyframes = []

        def add(self, keyframe):
            self.keyframes = sorted([*self.keyframes, keyframe], key=lambda k: k.start_percent)

        def clone(self):
            c = HookKeyframeGroup()
            c.keyframes = [k.clone() for k in self.keyframes]
            return c

    class WeightHook:
        def __init__(self, strength_model=1.0, strength_clip=1.0):
            self.weights = self.weights_clip = None
            self.need_weight_init = True
            self._strength_model, self._strength_clip = strength_model, strength_clip
            self.hook_keyframe = HookKeyframeGroup()
            self.hook_ref = object()
            self.custom_should_register = lambda hook, model, model_options, target_dict, registered: True

        def should_register(self, model, model_options, target_dict, registered):
            return self.custom_should_register(self, model, model_options, target_dict, registered)

        def clone(self):
            c = WeightHook(self._strength_model, self._strength_clip)
            c.__dict__.update(self.__dict__)
            return c

        def __eq__(self, other):
            return type(other) is WeightHook and other.hook_ref is self.hook_ref

        def __hash__(self):
            return id(self.hook_ref)

    class HookGroup:
        def __init__(self):
            self.hooks = []

        def add(self, hook):
            if hook not in self.hooks:
                self.hooks.append(hook)

        def clone(self):
            c = HookGroup()
            for hook in self.hooks:
                c.add(hook.clone())
            return c

        def clone_and_combine(self, other):
            c = self.clone()
            for hook in other.hooks if other is not None else ():
                c.add(hook.clone())
            return c

    for cls in (EnumWeightTarget, HookKeyframe, HookKeyframeGroup, WeightHook, HookGroup):
        setattr(hooks, cls.__name__, cls)
    return hooks


def cache_ram_usage(outputs) -> int:
    """Bytes newer ComfyUI's RAM-pressure cache counts for a cached output (comfy_execution/caching.py,
    RAMPressureCache.ram_release): CPU tensors in nested lists, tuples and mappings, each storage once,
    and for any other object what its `_comfy_cache_tensors()` returns."""
    from collections.abc import Mapping

    seen, total = set(), 0

    def scan(value):
        nonlocal total
        if value is None:
            return
        values = value.values() if isinstance(value, Mapping) else value if isinstance(value, (list, tuple)) \
            else (value,)
        for item in values:
            if isinstance(item, (list, tuple, Mapping)):
                scan(item)
            elif isinstance(item, torch.Tensor) and item.device.type == "cpu":
                storage = item.untyped_storage()
                if (storage.data_ptr(), storage.nbytes()) not in seen:
                    seen.add((storage.data_ptr(), storage.nbytes()))
                    total += storage.nbytes()
            elif hasattr(item, "_comfy_cache_tensors"):
                scan(item._comfy_cache_tensors())

    scan(outputs)
    return total


# -- installing ---------------------------------------------------------------------------------------
def install(monkeypatch, root: Path, dynamic_vram: bool = False) -> types.SimpleNamespace:
    """Put the stand-in modules into sys.modules for one test (monkeypatch undoes it)."""
    comfy = types.ModuleType("comfy")
    comfy.__path__ = []
    parts = {
        "model_patcher": types.SimpleNamespace(ModelPatcher=ModelPatcher, CallbacksMP=CallbacksMP),
        "patcher_extension": types.SimpleNamespace(WrappersMP=WrappersMP, CallbacksMP=CallbacksMP),
        "weight_adapter": types.SimpleNamespace(LoRAAdapter=LoRAAdapter),
        "model_management": make_model_management(),
        "utils": types.SimpleNamespace(ProgressBar=ProgressBar),
        "clip_vision": make_clip_vision(),
        "hooks": make_hooks(),
    }
    if dynamic_vram:
        parts["memory_management"] = types.SimpleNamespace(aimdo_enabled=True)
    monkeypatch.setitem(sys.modules, "comfy", comfy)
    for name, module in parts.items():
        setattr(comfy, name, module)
        monkeypatch.setitem(sys.modules, f"comfy.{name}", module)
    folder_paths = make_folder_paths(root)
    monkeypatch.setitem(sys.modules, "folder_paths", folder_paths)
    install_comfy_api(monkeypatch)
    ProgressBar.updates = []
    return types.SimpleNamespace(folder_paths=folder_paths, **parts)


def load_pack():
    """Import the pack as ComfyUI does: a package built from its __init__.py (once per session)."""
    if PACK_MODULE not in sys.modules:
        spec = importlib.util.spec_from_file_location(PACK_MODULE, PACK_ROOT / "__init__.py",
                                                      submodule_search_locations=[str(PACK_ROOT)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[PACK_MODULE] = module
        spec.loader.exec_module(module)
    return sys.modules[PACK_MODULE]


def node_classes(pack) -> dict[str, type]:
    """The pack's nodes by id, as ComfyUI's load_custom_node registers them from comfy_entrypoint()."""
    async def listed():
        extension = await pack.comfy_entrypoint()
        return await extension.get_node_list()

    return {node.GET_SCHEMA().node_id: node for node in asyncio.run(listed())}


def run_node(node, *args, unique_id: str = "1", **inputs):
    """Run a V3 node as ComfyUI's executor does: inputs by name (positional ones in the schema's input
    order), the hidden inputs on a class clone, execute's return value normalised to a NodeOutput."""
    ids = [i.id for i in node.GET_SCHEMA().inputs]
    if len(args) > len(ids):
        raise TypeError(f"{node.__name__} takes {len(ids)} inputs, got {len(args)}")
    for name, value in zip(ids, args):
        if name in inputs:
            raise TypeError(f"{node.__name__}: input {name!r} given twice")
        inputs[name] = value
    unknown = set(inputs) - set(ids)
    if unknown:
        raise TypeError(f"{node.__name__} has no input {sorted(unknown)}")
    hidden = {"UNIQUE_ID": unique_id}  # keyed by io.Hidden.unique_id, a str enum
    # the executor's own call: 0.3.64 passes the hidden inputs, 0.14.1 its v3_data holding them
    takes_v3_data = "v3_data" in inspect.signature(node.PREPARE_CLASS_CLONE).parameters
    clone = node.PREPARE_CLASS_CLONE({"hidden_inputs": hidden} if takes_v3_data else hidden)
    return clone.EXECUTE_NORMALIZED(**inputs)


class V1Call:
    """A V3 node called as the tests called the V1 node: `node.<its V1 FUNCTION name>(...)` runs execute and
    returns what the V1 method returned, the outputs tuple, or {"ui": ..., "result": ...} when it shows
    something. Class attributes (INPUT_TYPES, RETURN_TYPES, validate_inputs, ...) are the node class's."""

    V1_FUNCTIONS = ("load", "encode", "predict", "apply", "mix", "save", "prepend", "measure", "mask", "create")

    def __init__(self, node, unique_id: str = "1"):
        self.node, self.unique_id = node, unique_id

    def __getattr__(self, name: str):
        if name not in self.V1_FUNCTIONS:
            return getattr(self.node, name)

        def call(*args, **inputs):
            out = run_node(self.node, *args, unique_id=self.unique_id, **inputs)
            return tuple(out.args) if out.ui is None else {"ui": out.ui, "result": tuple(out.args)}

        return call


class TinyUNet(torch.nn.Module):
    """Weights at exactly the keys (and shapes) a LoRA factor set patches, like an SDXL diffusion model."""

    def __init__(self, factors, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self._weights = {key: torch.randn(up.shape[0], factors.down[key].shape[1], generator=gen)
                         for key, up in factors.up.items()}

    def state_dict(self, *args, **kwargs):
        return dict(self._weights)


# -- fixtures shared by the node tests --------------------------------------------------------------
NODE_HEADS = {"heads": 12, "dim_head": 64}  # the loader node uses the released split, as users do
VARIANT = "sdxl_tiny_fidelity"
NO_BASE_VARIANT = "sdxl_tiny_no_base"
CLIP_NAME = "clip_vit_tiny"


@pytest.fixture(scope="session")
def models_root(tmp_path_factory, tiny_clip_dir):
    """A ComfyUI base folder laid out as a user installs HyperLoRA (official layout), with tiny models."""
    from tests.synthetic_checkpoint import write_synthetic_checkpoint
    from tests.tiny_onnx import write_antelopev2

    root = tmp_path_factory.mktemp("comfy_base")
    variants = root / "models" / "hyper_lora" / "hyper_lora"
    common = dict(dim=32, depth=1, clip_dim=32, dtype=torch.float32, **NODE_HEADS)
    write_synthetic_checkpoint(variants / VARIANT, seed=3, **common)
    write_synthetic_checkpoint(variants / NO_BASE_VARIANT, seed=4, with_base=False, **common)
    shutil.copytree(tiny_clip_dir, root / "models" / "hyper_lora" / "clip_vit" / CLIP_NAME)
    write_antelopev2(root / "models" / "insightface" / "models" / "antelopev2")
    return root


@pytest.fixture
def comfy(monkeypatch, models_root, tmp_path):
    """The stand-in ComfyUI, with our folders registered and a fresh output folder."""
    env = install(monkeypatch, models_root)
    env.folder_paths.output_directory = str(tmp_path / "output")
    env.folder_paths.temp_directory = str(tmp_path / "temp")
    env.pack = load_pack()
    env.pack.nodes.folders.register_folders()
    env.nodes = node_classes(env.pack)
    env.node = lambda key: V1Call(env.nodes[key])
    return env


@pytest.fixture
def comfy_dynamic_vram(monkeypatch, models_root, tmp_path):
    """The stand-in ComfyUI in dynamic VRAM mode (comfy-aimdo on), otherwise like `comfy`."""
    env = install(monkeypatch, models_root, dynamic_vram=True)
    env.folder_paths.output_directory = str(tmp_path / "output")
    env.folder_paths.temp_directory = str(tmp_path / "temp")
    env.pack = load_pack()
    env.pack.nodes.folders.register_folders()
    env.nodes = node_classes(env.pack)
    env.node = lambda key: V1Call(env.nodes[key])
    return env
