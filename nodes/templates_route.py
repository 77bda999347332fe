"""Which of our example workflows ComfyUI's template browser lists, under what title, and in what order.

Core's `GET /workflow_templates` lists every .json file of a pack's example_workflows/ in the order the disk
gives, and the frontends (1.27 to 1.58) show a custom pack's templates in that order with the file name as
title and description: they read no metadata for custom-node templates (they map each listed name to
{name, title: name, description: name}). So a `_comfyui-0.3` variant would be offered on 0.33, where it opens
with shifted widgets, the quick start could come anywhere, and every card says `hyperlora_xyz`.
A middleware rewrites our pack's entry of that answer for the running release: one title in plain words per
workflow (the variant of its series in place of the plain file, no variant of another series), the quick start
first, then the order of TITLES. The browser fetches a template and its thumbnail by the listed name, so the
same middleware answers `/api/workflow_templates/<pack>/<title>.json|.jpg` with the file behind that title.
Other packs' entries, and our files by their own names, are left to core.
"""

from __future__ import annotations

import json
import os
import re

# Workflow (file name without .json and without a release suffix) -> its title in the template browser, in the
# browser's order. The title is also the tab's name once opened, and the file name a user saves it under, so it
# keeps to characters every file system and URL takes (tests/test_templates_route.py holds every shipped
# workflow to a title).
TITLES = {
    "hyperlora_one_photo": "HyperLoRA quick start - one face photo",
    "hyperlora_several_photos": "HyperLoRA - several photos of one person",
    "hyperlora_save_identity": "HyperLoRA - save an identity to the library",
    "hyperlora_from_saved_identity": "HyperLoRA - generate from a saved identity",
    "hyperlora_rank_by_likeness": "HyperLoRA - four images ranked by likeness",
    "hyperlora_strength_sweep": "HyperLoRA - strength sweep in one batch (same seed)",
    "hyperlora_controlnet": "HyperLoRA - the person in a pose (ControlNet)",
    "hyperlora_two_people": "HyperLoRA - two people in one picture",
    "hyperlora_face_redraw": "HyperLoRA - redraw the face of a picture",
    "hyperlora_identity_from_30_percent": "HyperLoRA - identity from 30 percent of the steps",
    "hyperlora_mix_identities": "HyperLoRA - blend two people",
    "hyperlora_concept_slider": "HyperLoRA - concept slider (neutral to smiling)",
    "hyperlora_save_lora": "HyperLoRA - save the person as a LoRA file",
    "hyperlora_export_for_train_lora": "HyperLoRA - refine, step 1 - export for Train LoRA",
    "hyperlora_refine_with_train_lora": "HyperLoRA - refine, step 2 - Train LoRA on the photos",
}
TITLE_CHARACTERS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ,()-]*[A-Za-z0-9)]$")
# A workflow for one release series only (example_workflows/<name>_comfyui-0.3.json); the plain file is for the others.
VARIANT = re.compile(r"^(?P<name>.+)_comfyui-(?P<series>\d+\.\d+)$")
PATHS = ("/workflow_templates", "/api/workflow_templates")
FILE_KINDS = (".json", ".jpg")  # what the browser fetches of a template: the workflow and its thumbnail
# The folder ComfyUI loaded the pack from (as named in custom_nodes/, a symlink's name included): its key there.
PACK_FOLDER = os.path.basename(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def series_of(release: str | None) -> str | None:
    return ".".join(release.split(".")[:2]) if release else None


def listed(names: list[str], release: str | None) -> list[str]:
    """The workflows (file names without .json) the template browser offers on `release`, in TITLES' order (the
    quick start first; a file without a title last, by name)."""
    series = series_of(release)
    keep = []
    for name in names:
        variant = VARIANT.match(name)
        if variant:
            if variant.group("series") == series:
                keep.append(name)
        elif f"{name}_comfyui-{series}" not in names:
            keep.append(name)
    position = {workflow: index for index, workflow in enumerate(TITLES)}
    return sorted(keep, key=lambda name: (position.get(family(name), len(position)), name))


def family(name: str) -> str:
    """The workflow a file is of: its name without a release suffix."""
    return VARIANT.sub(r"\g<name>", name)


def title(name: str) -> str:
    """The template browser's title of a workflow file (a file without a title keeps its name)."""
    return TITLES.get(family(name), name)


def titled(names: list[str], release: str | None) -> list[str]:
    """What the template browser lists on `release`: the titles of `listed`, in its order."""
    return [title(name) for name in listed(names, release)]


def file_behind(shown: str, names: list[str], release: str | None) -> str | None:
    """The file (name without extension) a listed title stands for on `release`, or None."""
    return next((name for name in listed(names, release) if title(name) == shown and name != shown), None)


def rewritten(body: bytes, release: str | None, pack: str = PACK_FOLDER) -> bytes | None:
    """Core's answer with our entry rewritten, or None when it holds no entry of ours."""
    templates = json.loads(body)
    if not isinstance(templates, dict) or not isinstance(templates.get(pack), list):
        return None
    templates[pack] = titled(templates[pack], release)
    return json.dumps(templates).encode()


def register_templates_filter() -> bool:
    """Put the middleware on ComfyUI's server (before it starts). False outside a running ComfyUI."""
    try:
        from aiohttp import web
    except ImportError:  # not inside ComfyUI, whose server is aiohttp's
        return False

    from .routes import add_middleware

    release = _running_release()
    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "example_workflows")
    prefix = f"/api/workflow_templates/{PACK_FOLDER}/"

    @web.middleware
    async def hyperlora_templates_for_this_release(request, handler):
        if request.method == "GET" and request.path.startswith(prefix):
            shown, kind = os.path.splitext(request.path[len(prefix):])
            if kind in FILE_KINDS:
                names = [os.path.splitext(f)[0] for f in os.listdir(folder) if f.endswith(".json")]
                name = file_behind(shown, names, release)
                if name is not None and os.path.isfile(os.path.join(folder, name + kind)):
                    return web.FileResponse(os.path.join(folder, name + kind))
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
