"""HyperLoRA for ComfyUI: face photos -> SDXL LoRA weights, without training.

ComfyUI imports this package from custom_nodes/ and calls comfy_entrypoint() for the nodes (ComfyUI's V3
node API, comfy_api, which ComfyUI has had since before our minimum release 0.3.64). Where the running core
lacks something the pack needs (comfyui_support.py: too old, or a future core without a wrapper we use), the
pack says so in one line naming the release and what is missing, and registers nothing. The engine (hyperlora_core) never imports ComfyUI;
the nodes import comfy only inside functions, and the face libraries (insightface, onnxruntime) are
imported when a face node first runs, so a broken optional dependency shows up as an error on that node
instead of a pack that fails to load.
"""

import sys

if not __package__:
    # Imported as a plain file, not as a package: pytest does this when the clone's folder name is not a Python
    # name (comfyui-hyperlora). ComfyUI always imports the folder as a package; there is nothing to register.
    __all__ = []
else:
    from .comfyui_support import MINIMUM_COMFYUI, missing_features, refusal, running_release  # noqa: F401

    _missing = missing_features()
    if _missing:
        print(refusal(running_release(), _missing), file=sys.stderr)
        __all__ = []
    else:
        from .nodes import HyperLoRAExtension
        from .nodes.api_prompt import register_prompt_check
        from .nodes.convert_route import register_convert_route
        from .nodes.folders import register_folders
        from .nodes.identity_route import register_routes as register_identity_routes
        from .nodes.setup_route import register_routes
        from .nodes.templates_route import register_templates_filter

        try:
            import folder_paths  # noqa: F401  ComfyUI's; absent when the tests import this package
        except ImportError:
            pass
        else:
            register_folders()
            register_routes()  # GET /hyperlora/setup, read by the web extension
            register_identity_routes()  # GET /hyperlora/identity_thumbnail, the identity picker's faces
            register_convert_route()  # POST /hyperlora/convert_workflow, for workflows of the official pack
            register_prompt_check()  # API prompts: a text for a BOOLEAN, a null for a file dropdown, refused by name
            register_templates_filter()  # the template browser: this release's workflows, the quick start first

        async def comfy_entrypoint() -> HyperLoRAExtension:
            """ComfyUI's V3 entry point: the extension that lists our nodes (no NODE_CLASS_MAPPINGS beside it:
            ComfyUI would take those and ignore this)."""
            return HyperLoRAExtension()

        WEB_DIRECTORY = "./web"
        __all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
