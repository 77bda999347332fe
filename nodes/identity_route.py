"""GET /hyperlora/identity_thumbnail?name=<identity>: the face thumbnail of a saved identity, as PNG.

For the identity picker of the web extension. The name goes through the same checks as Load Identity
(it must be an installed identity file inside a registered identities folder), so the route cannot
be used to read anything else.
"""

from __future__ import annotations

import asyncio
import io

from .routes import add_route

ROUTE = "/hyperlora/identity_thumbnail"


def thumbnail_png(name: str) -> bytes | None:
    """PNG bytes of the identity's thumbnail; None when it has none. ValueError for a bad or unknown name."""
    from PIL import Image

    from ..hyperlora_core.library.identity_file import read_thumbnail
    from .identity import resolve_identity

    pixels = read_thumbnail(resolve_identity(name))
    if pixels is None:
        return None
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def no_thumbnail_text(name: str) -> str:
    """What a missing picture means: the identity is fine, it just has no single face to show."""
    from ..hyperlora_core.validate import shown

    return (f"No face picture is stored with {shown(name)}: it was made by HyperLoRA Mix Identities (a mix has no "
            "single face) or by another tool. It loads and works as usual.")


async def handle_thumbnail(request):
    from aiohttp import web

    from ..hyperlora_core.library.identity_file import identity_relative_path

    name = request.query.get("name", "")
    try:
        identity_relative_path(name)  # a name no identity can have is a bad request, not a missing one
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    try:
        png = await asyncio.to_thread(thumbnail_png, name)
    except (ValueError, OSError) as exc:
        return web.json_response({"error": str(exc)}, status=404)
    if png is None:
        return web.json_response({"error": no_thumbnail_text(name)}, status=404)
    return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "no-cache"})


def register_routes() -> bool:
    """Add the route to ComfyUI's server; False when no server runs (tests, scripts)."""
    return add_route("get", ROUTE, handle_thumbnail)
