"""GET /hyperlora/setup: the setup report for the web extension, as JSON.

A thin adapter: it only asks ComfyUI's folder_paths where models live (so
extra_model_paths.yaml counts) and hands that to hyperlora_core.setup.check.
"""

from __future__ import annotations

import asyncio
import logging

from .routes import add_route

ROUTE = "/hyperlora/setup"
logger = logging.getLogger(__name__)

# setup_check argument -> ComfyUI folder names searched for it (names other packs may register too)
FOLDER_NAMES = {
    "variant_dirs": ("hyper_lora",),
    "clip_vit_dirs": ("hyper_lora_clip_vit",),
    "insightface_dirs": ("insightface",),
    "clip_vision_dirs": ("clip_vision",),
}


def setup_report(folder_paths) -> dict:
    """The JSON report for the folders `folder_paths` (ComfyUI's module, or a stand-in) knows."""
    from ..hyperlora_core.setup.check import check_setup

    folders = {
        argument: [path for name in names if name in folder_paths.folder_names_and_paths
                   for path in folder_paths.get_folder_paths(name)]
        for argument, names in FOLDER_NAMES.items()
    }
    return check_setup(folder_paths.models_dir, **folders).to_json()


async def handle_setup(request):
    """Build the report off the event loop: it touches the disk and reads safetensors headers."""
    import folder_paths
    from aiohttp import web

    try:
        report = await asyncio.to_thread(setup_report, folder_paths)
    except Exception as exc:  # each file is checked on its own; this is a folder-level failure
        logger.exception("HyperLoRA setup report failed")
        message = (f"The HyperLoRA setup check failed ({type(exc).__name__}: {exc}). Check that the model "
                   "folders are readable; the server log has the details.")
        return web.json_response({"ok": False, "error": message, "items": [], "variants": [], "clip": None},
                                 status=500)
    return web.json_response(report)


def register_routes() -> bool:
    """Add the route to ComfyUI's server; called once from the pack's __init__.

    Returns False when no ComfyUI server is running (tests, scripts importing the pack): there is
    nothing to add a route to then.
    """
    return add_route("get", ROUTE, handle_setup)
