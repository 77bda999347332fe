"""Our HTTP routes go onto ComfyUI's own server (PromptServer), which exists only inside ComfyUI."""

from __future__ import annotations


def comfyui_server():
    """ComfyUI's running server (PromptServer.instance), or None: tests, scripts and the CLI import the pack
    without one, and there is nothing to register on then."""
    try:
        from server import PromptServer
    except ImportError:
        return None
    return getattr(PromptServer, "instance", None)


def add_route(method: str, path: str, handler) -> bool:
    """Register `handler` for `method` ("get", "post") on `path`; False when no ComfyUI server is running."""
    instance = comfyui_server()
    if instance is None:
        return False
    getattr(instance.routes, method)(path)(handler)
    return True


def add_middleware(middleware) -> bool:
    """Add an aiohttp middleware to ComfyUI's server; possible only before the server starts (custom nodes are
    imported before). Returns False when no ComfyUI server is running."""
    instance = comfyui_server()
    if instance is None or instance.app.frozen:
        return False
    instance.app.middlewares.append(middleware)
    return True
