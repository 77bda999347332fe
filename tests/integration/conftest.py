"""Real ComfyUI for the integration tests: COMFYUI_PATH points at a ComfyUI checkout (v0.3.64 tested).

Without COMFYUI_PATH every test here is skipped. ComfyUI runs on the CPU (--cpu is set before
comfy.model_management is imported), and nothing is written into the checkout: the output folder
and our model folders live in pytest's temporary directory.
"""

from __future__ import annotations

import asyncio
import os
import sys
import types
from pathlib import Path

import pytest

COMFYUI_PATH = os.environ.get("COMFYUI_PATH")
PACK_ROOT = Path(__file__).resolve().parents[2]
PACK_DIR_NAME = "comfyui-hyperlora"


def import_comfyui():
    if not COMFYUI_PATH:
        pytest.skip("set COMFYUI_PATH to a ComfyUI checkout to run the integration tests")
    if sys.path[0] != COMFYUI_PATH:
        sys.path.insert(0, COMFYUI_PATH)  # before the repo root, whose nodes/ would shadow ComfyUI's nodes.py
    from comfy.cli_args import args

    args.cpu = True
    import comfy.model_management  # noqa: F401  (after args.cpu)
    import folder_paths

    import nodes

    return folder_paths, nodes


@pytest.fixture(scope="session")
def comfyui(tmp_path_factory):
    """ComfyUI's modules with our pack loaded the way ComfyUI loads a custom node folder."""
    folder_paths, nodes = import_comfyui()
    base = tmp_path_factory.mktemp("comfy_base")
    custom_nodes = base / "custom_nodes"
    custom_nodes.mkdir()
    (custom_nodes / PACK_DIR_NAME).symlink_to(PACK_ROOT, target_is_directory=True)
    folder_paths.set_output_directory(str(base / "output"))
    folder_paths.set_temp_directory(str(base / "temp"))
    loaded = asyncio.run(nodes.load_custom_node(str(custom_nodes / PACK_DIR_NAME)))
    assert loaded, "ComfyUI failed to load the pack (see the log above)"
    pack_path = str(custom_nodes / PACK_DIR_NAME)
    pack = sys.modules[pack_path.replace(".", "_x_")]  # the module name ComfyUI gives a custom node folder
    return types.SimpleNamespace(folder_paths=folder_paths, nodes=nodes, base=base, pack_path=pack_path, pack=pack)


@pytest.fixture(scope="session")
def tiny_sdxl(comfyui):
    from tests.integration.tiny_models import build_unet

    return build_unet("SDXL")


@pytest.fixture(scope="session")
def checkpoint(comfyui, tiny_sdxl, tmp_path_factory):
    """A matching checkpoint, found through an extra model path as extra_model_paths.yaml would add it."""
    from tests.integration.tiny_models import VARIANT, write_matching_checkpoint

    root = tmp_path_factory.mktemp("hyper_lora")
    folder = write_matching_checkpoint(root / VARIANT, tiny_sdxl)
    comfyui.folder_paths.add_model_folder_path("hyper_lora", str(root))
    return folder


@pytest.fixture
def node(comfyui):
    """Instantiate one of our nodes from ComfyUI's registry, by key."""
    return lambda key: comfyui.nodes.NODE_CLASS_MAPPINGS[key]()
