"""HyperLoRA for ComfyUI: face photos -> SDXL LoRA weights, without training.

ComfyUI imports this package from custom_nodes/. The engine (hyperlora_core) never imports
ComfyUI; the nodes import it only inside functions, and the face libraries (insightface,
onnxruntime) are imported when a face node first runs, so a broken optional dependency
shows up as an error on that node instead of a pack that fails to load.
"""

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from .nodes.convert_route import register_convert_route
from .nodes.folders import register_folders
from .nodes.identity_route import register_routes as register_identity_routes
from .nodes.setup_route import register_routes

WEB_DIRECTORY = "./web"

try:
    import folder_paths  # noqa: F401  ComfyUI's; absent when pytest or the CLI imports this package
except ImportError:
    pass
else:
    register_folders()
    register_routes()  # GET /hyperlora/setup, read by the web extension
    register_identity_routes()  # GET /hyperlora/identity_thumbnail, the identity picker's faces
    register_convert_route()  # POST /hyperlora/convert_workflow, for workflows of the official pack

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
