"""Which of our example workflows ComfyUI's template browser lists, and in what order.

Core's `GET /workflow_templates` lists every .json file of a pack's example_workflows/ in the order the disk
gives, and the frontends (1.27 to 1.58) show a custom pack's templates in that order, with the file name as
title and description (they read no metadata for custom-node templates). So a `_comfyui-0.3` variant would be
offered on 0.33, where it opens with shifted widgets, and the quick start could come anywhere. A middleware
rewrites our pack's entry of that answer for the running release: the variant of its series in place of the
plain file, no variant of another series, the quick start first, then the rest by name. Other packs' entries
are left as core made them.
"""

from __future__ import annotations

import json
import os
import re

QUICK_START = "hyperlora_one_photo"
# A workflow for one release series only (example_workflows/<name>_comfyui-0.3.json); the plain file is for the others.
VARIANT = re.compile(r"^(?P<name>.+)_comfyui-(?P<series>\d+\.\d+)$")
PATHS = ("/workflow_templates", "/api/workflow_templates")
# The folder ComfyUI loaded the pack from (as named in custom_nodes/, a symlink's name included): its key there.
PACK_FOLDER = os.path.basename(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def series_of(release: str | None) -> str | None:
    return ".".join(release.split(".")[:2]) if release else None


def listed(names: list[str], release: str | None) -> list[str]:
    """The workflows (file names without .json) the template browser offers on `release`, in order."""
    series = series_of(release)
    keep = []
    for name in names:
        variant = VARIANT.match(name)
        if variant:
            if variant.group("series") == series:
                keep.append(name)
        elif f"{name}_comfyui-{series}" not in names:
            keep.append(name)
    return sorted(keep, key=lambda name: (VARIANT.sub(r"\g<name>", name) != QUICK_START, name))


def rewritten(body: bytes, release: str | None, pack: str = PACK_FOLDER) -> bytes | None:
    """Core's answer with our entry rewritten, or None when it holds no entry of ours."""
    templates = json.loads(body)
    if not isinstance(templates, dict) or not isinstance(templates.get(pack), list):
        return None
    templates[pack] = listed(templates[pack], release)
    return json.dumps(templates).encode()


def register_templates_filter() -> bool:
    """Put the middleware on ComfyUI's server (before it starts). False outside a running ComfyUI."""
    try:
        from aiohttp import web
    except ImportError:  # not inside ComfyUI, whose server is aiohttp's
        return False

    from .routes import add_middleware

    release = _running_release()

    @web.middleware
    async def hyperlora_templates_for_this_release(request, handler):
        response = await handler(request)
        if request.method != "GET" or request.path not in PATHS or response.status != 200:
            return response
        body = rewritten(response.body, release) if isinstance(getattr(response, "body", None), bytes) else None
        return response if body is None else web.Response(body=body, content_type="application/json")

    return add_middleware(hyperlora_templates_for_this_release)


def _running_release() -> str | None:
    try:
        import comfyui_version
    except ImportError:
        return None
    return str(getattr(comfyui_version, "__version__", "")) or None
