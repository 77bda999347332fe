"""TEST ONLY: a ComfyUI custom node package that swaps the multi-GB core model loaders for tiny stand-ins.

The integration tests symlink this folder into the custom_nodes of a throw-away ComfyUI base directory;
it is never installed for users (ComfyUI loads only the top-level folders of custom_nodes, and this one
lives under tests/). ComfyUI refuses a custom node that reuses a core node's name, so instead of
registering nodes this package replaces the load functions of the core loader classes: the node names,
inputs and the file lists stay the real ones (a workflow's file name must still be in the list), and the
outputs are the tiny models of ../tiny_pipeline.py (MODEL, CLIP, VAE, CONTROL_NET, CLIP_VISION).

CLIP vision files are read for real: comfy.clip_vision.load learns the tiny CLIP ViT (its config comes
from config.json beside the file or from the file's metadata); real-size files go to ComfyUI's own code.
Nothing is replaced unless the base directory holds a file named HYPERLORA_TEST_STANDINS (the test
writes it), so a copy of this folder in a real custom_nodes does nothing. A route tells the test when the prompt queue has taken the flags of a /free call, so that the next
prompt starts with empty caches.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys

import comfy.clip_vision
import folder_paths
import server
import torch
from aiohttp import web

import nodes


def _load_tiny_pipeline():
    """tests/integration/tiny_pipeline.py, also imported by the test itself (same seeds, same models)."""
    path = os.path.join(os.path.dirname(os.path.realpath(__file__)), os.pardir, "tiny_pipeline.py")
    spec = importlib.util.spec_from_file_location("hyperlora_test_tiny_pipeline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


tiny_pipeline = _load_tiny_pipeline()

NODE_CLASS_MAPPINGS: dict = {}  # registers nothing: it only replaces core load functions
STANDIN_LOG: list[str] = []  # which stand-ins ran, for the log


def _checkpoint(self, ckpt_name):
    STANDIN_LOG.append(f"CheckpointLoaderSimple {ckpt_name}")
    return tiny_pipeline.build_unet(), tiny_pipeline.build_clip(), tiny_pipeline.build_vae()


def _controlnet(self, control_net_name):
    STANDIN_LOG.append(f"ControlNetLoader {control_net_name}")
    return (tiny_pipeline.build_controlnet(),)


def _diff_controlnet(self, model, control_net_name):
    STANDIN_LOG.append(f"DiffControlNetLoader {control_net_name}")
    return (tiny_pipeline.build_controlnet(),)


def _vae(self, vae_name):
    STANDIN_LOG.append(f"VAELoader {vae_name}")
    return (tiny_pipeline.build_vae(),)


def _unet(self, unet_name, weight_dtype="default"):
    STANDIN_LOG.append(f"UNETLoader {unet_name}")
    return (tiny_pipeline.build_unet(),)


# core class -> (method, stand-in); the test keeps a matching list of the folders these list files from
STANDINS = {
    "CheckpointLoaderSimple": ("load_checkpoint", _checkpoint),
    "ControlNetLoader": ("load_controlnet", _controlnet),
    "DiffControlNetLoader": ("load_controlnet", _diff_controlnet),
    "VAELoader": ("load_vae", _vae),
    "UNETLoader": ("load_unet", _unet),
}
MARKER = "HYPERLORA_TEST_STANDINS"  # the test writes it into the base directory: nothing happens without it
_real_clip_vision_load = comfy.clip_vision.load


def _clip_vision_load(ckpt_path):
    if tiny_pipeline.clip_vision_config(ckpt_path) is None:
        return _real_clip_vision_load(ckpt_path)
    STANDIN_LOG.append(f"comfy.clip_vision.load {ckpt_path}")
    return tiny_pipeline.load_clip_vision(ckpt_path)


async def _pending_flags(request):
    queue = server.PromptServer.instance.prompt_queue
    with queue.mutex:
        return web.json_response({"flags": sorted(queue.flags), "standins": STANDIN_LOG})


def activate() -> bool:
    if not os.path.isfile(os.path.join(folder_paths.base_path, MARKER)):
        logging.getLogger(__name__).warning("HyperLoRA test stand-ins: no %s file in %s, so nothing is "
                                            "replaced (they exist only for the integration tests)", MARKER,
                                            folder_paths.base_path)
        return False
    for name, (method, function) in STANDINS.items():
        setattr(nodes.NODE_CLASS_MAPPINGS[name], method, function)
    comfy.clip_vision.load = _clip_vision_load
    server.PromptServer.instance.routes.get("/hyperlora_test/pending_flags")(_pending_flags)
    # Models this small run many times faster on one thread than on several fighting over busy shared cores.
    torch.set_num_threads(1)
    logging.getLogger(__name__).warning("HyperLoRA TEST stand-ins active: core loaders %s return tiny models",
                                        sorted(STANDINS))
    return True


ACTIVE = activate()
