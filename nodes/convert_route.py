"""POST /hyperlora/convert_workflow: the web extension's "Convert to HyperLoRA for ComfyUI".

A thin adapter over hyperlora_core.workflows.convert: the request body is {"workflow": <UI-format
workflow>}; the answer is {"workflow": <converted>, "report": {...}} or, for a file that cannot be
converted, status 400 with {"error": <what to do>}. The server's own node list is passed along so
the report can also name other packs' nodes that are not installed.
"""

from __future__ import annotations

import asyncio
import sys

from ..hyperlora_core.validate import parse_json_text
from .routes import add_route

ROUTE = "/hyperlora/convert_workflow"
MAX_BYTES = 32 * 1024 * 1024  # far above any saved workflow; a larger body is refused before parsing


def convert(body: object, installed: set[str] | None) -> tuple[int, dict]:
    """(HTTP status, JSON answer) for a parsed request body."""
    from ..hyperlora_core.workflows.convert import WorkflowError, convert_workflow

    if not isinstance(body, dict) or "workflow" not in body:
        return 400, {"error": 'Send {"workflow": <the workflow>} as JSON.'}
    try:
        result = convert_workflow(body["workflow"], installed)
    except WorkflowError as exc:
        return 400, {"error": str(exc)}
    return 200, {"workflow": result.workflow, "report": result.report.to_json()}


def installed_node_types() -> set[str] | None:
    """Every node type the server registered: ComfyUI's top-level `nodes` module, already imported by
    the server (looked up, not imported, so nothing else named `nodes` is picked up)."""
    comfy_nodes = sys.modules.get("nodes")
    mappings = getattr(comfy_nodes, "NODE_CLASS_MAPPINGS", None)
    return set(mappings) if isinstance(mappings, dict) else None


async def read_body(stream, limit: int) -> bytes | None:
    """The whole body, or None once it passes `limit` bytes. One read() returns only what has arrived
    so far, so a large workflow is read chunk by chunk to its end."""
    chunks, size = [], 0
    while chunk := await stream.read(1 << 16):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def handle_convert(request):
    from aiohttp import web

    too_large = web.json_response({"error": "The workflow is too large to convert."}, status=413)
    if request.content_length is not None and request.content_length > MAX_BYTES:
        return too_large
    raw = await read_body(request.content, MAX_BYTES)
    if raw is None:
        return too_large
    try:
        body = parse_json_text(raw, "The request", "Send the workflow as JSON.")
    except ValueError:  # also bad UTF-8 and nesting too deep for the parser (a RecursionError from json)
        return web.json_response({"error": "The request is not JSON."}, status=400)
    status, answer = await asyncio.to_thread(convert, body, installed_node_types())
    return web.json_response(answer, status=status)


def register_convert_route() -> bool:
    """Add the route to ComfyUI's server; False when no server runs (tests, scripts)."""
    return add_route("post", ROUTE, handle_convert)
