"""Our HTTP routes go onto ComfyUI's own server (PromptServer), which exists only inside ComfyUI."""

from __future__ import annotations


def add_route(method: str, path: str, handler) -> bool:
    """Register `handler` for `method` ("get", "post") on `path`.

    Returns False when no ComfyUI server is running (tests, scripts and the CLI importing the
    pack): there is nothing to add a route to then.
    """
    try:
        from server import PromptServer
    except ImportError:
        return False
    instance = getattr(PromptServer, "instance", None)
    if instance is None:
        return False
    getattr(instance.routes, method)(path)(handler)
    return True


def add_middleware(middleware) -> bool:
    """Add an aiohttp middleware to ComfyUI's server; possible only before the server starts (custom nodes are
    imported before). Returns False when no ComfyUI server is running."""
    try:
        from server import PromptServer
    except ImportError:
        return False
    instance = getattr(PromptServer, "instance", None)
    if instance is None or instance.app.frozen:
        return False
    instance.app.middlewares.append(middleware)
    return True
