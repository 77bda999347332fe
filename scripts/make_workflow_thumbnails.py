"""Make example_workflows/<name>.jpg, a picture of each workflow's graph: the thumbnail the registry
and ComfyUI's template browser show beside the workflow.

    COMFYUI_PATH=/path/to/ComfyUI python scripts/make_workflow_thumbnails.py         # missing or stale ones
    COMFYUI_PATH=/path/to/ComfyUI python scripts/make_workflow_thumbnails.py --all   # every one
    python scripts/make_workflow_thumbnails.py --check                              # exit 1 if any is stale

It starts ComfyUI (COMFYUI_PATH, with this pack and an empty models folder, on a free loopback port)
and headless Chromium (CHROMIUM_PATH, default /usr/bin/chromium; playwright-core on NODE_PATH or
installed in tests/integration), loads each workflow into the page and keeps the canvas alone. The
page is the server's own frontend (COMFYUI_FRONTEND_ROOT is ignored: newer frontends outline nodes
whose model files are missing in red, and no models are installed for the screenshots).
A workflow for another release than COMFYUI_PATH's (a `_comfyui-0.3` variant) is left for a run with that
release, so that no node shows as unknown. Screenshots are not byte-reproducible, so each JPEG records in its comment the hash of the workflow it
shows (the JSON's content, whatever its formatting); tests/test_workflow_thumbnails.py checks that
every workflow has a thumbnail of its current content. Thumbnails of removed workflows are deleted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

WORKFLOWS = ROOT / "example_workflows"
COMMENT_PREFIX = "hyperlora-workflow-sha256:"
THUMBNAIL_WIDTH = 960
JPEG_QUALITY = 85
TIMEOUT_S = 180


def workflow_hash(path: Path) -> str:
    """The hash of a workflow's content: the same for the same graph however the JSON is formatted."""
    content = json.loads(path.read_text(encoding="utf-8"))
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def thumbnail_path(workflow: Path) -> Path:
    return workflow.with_suffix(".jpg")


def recorded_hash(thumbnail: Path) -> str | None:
    """The workflow hash a thumbnail was made from, or None (no file, not a JPEG, no comment of ours)."""
    from PIL import Image

    try:
        with Image.open(thumbnail) as image:
            comment = image.info.get("comment", b"")
            kind = image.format
    except (OSError, ValueError):
        return None
    text = comment.decode("ascii", "replace") if isinstance(comment, bytes) else str(comment)
    return text[len(COMMENT_PREFIX):] if kind == "JPEG" and text.startswith(COMMENT_PREFIX) else None


def workflows() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.json"))


def stale_workflows(paths: list[Path]) -> list[Path]:
    return [path for path in paths if recorded_hash(thumbnail_path(path)) != workflow_hash(path)]


def orphan_thumbnails() -> list[Path]:
    return [path for path in sorted(WORKFLOWS.glob("*.jpg")) if not path.with_suffix(".json").is_file()]


def save_thumbnail(png: Path, workflow: Path) -> None:
    """The screenshot as a JPEG of THUMBNAIL_WIDTH pixels (never enlarged) that names its workflow's hash."""
    from PIL import Image

    with Image.open(png) as image:
        image = image.convert("RGB")
        if image.width > THUMBNAIL_WIDTH:
            height = round(image.height * THUMBNAIL_WIDTH / image.width)
            image = image.resize((THUMBNAIL_WIDTH, height), Image.Resampling.LANCZOS)
        target = thumbnail_path(workflow)
        partial = target.with_suffix(".jpg.partial")
        image.save(partial, "JPEG", quality=JPEG_QUALITY, optimize=True,
                   comment=f"{COMMENT_PREFIX}{workflow_hash(workflow)}".encode())
        partial.replace(target)  # never a half-written thumbnail


def screenshot(paths: list[Path], workdir: Path) -> dict:
    """PNG screenshots of the given workflows from a real ComfyUI and Chromium, into workdir."""
    if os.environ.pop("COMFYUI_FRONTEND_ROOT", None):  # read by conftest on import: drop it first
        print("note: COMFYUI_FRONTEND_ROOT ignored; thumbnails use the server's own frontend (newer ones outline "
              "nodes whose model files are missing in red, and no models are installed here)", file=sys.stderr)
    from tests.integration.conftest import install_pack, running_comfyui

    if not os.environ.get("COMFYUI_PATH"):
        raise SystemExit("set COMFYUI_PATH to a ComfyUI checkout (it serves the page the screenshots come from)")
    chromium = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not Path(chromium).is_file():
        raise SystemExit(f"no Chromium at {chromium}: install it or set CHROMIUM_PATH")
    install_pack(workdir)
    with running_comfyui(workdir, TIMEOUT_S) as (url, _):
        config = {"url": url, "chromium": chromium, "profileDir": str(workdir / "profile"), "timeoutMs": TIMEOUT_S * 1000,
                  "workflows": [{"name": p.name, "path": str(p), "out": str(workdir / f"{p.stem}.png")} for p in paths]}
        config_path = workdir / "thumbnails.json"
        config_path.write_text(json.dumps(config))
        node_path = os.pathsep.join(filter(None, [os.environ.get("NODE_PATH"), str(ROOT / "tests/integration/node_modules")]))
        done = subprocess.run(["node", str(ROOT / "scripts" / "workflow_thumbnails.mjs"), str(config_path)],
                              capture_output=True, text=True, timeout=TIMEOUT_S + 60, check=False,
                              env={**os.environ, "NODE_PATH": node_path})
    if done.returncode or not done.stdout.strip():
        raise SystemExit(f"the browser failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--all", action="store_true", help="remake every thumbnail, not only missing or stale ones")
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if any thumbnail is missing or stale")
    args = parser.parse_args()
    todo = workflows() if args.all else stale_workflows(workflows())
    if args.check:
        for path in todo + orphan_thumbnails():
            print(f"{path.relative_to(ROOT)}: thumbnail missing, stale or left over", file=sys.stderr)
        return 1 if todo or orphan_thumbnails() else 0
    for orphan in orphan_thumbnails():
        orphan.unlink()
        print(f"removed {orphan.relative_to(ROOT)} (its workflow is gone)")
    if os.environ.get("COMFYUI_PATH"):  # a workflow for another release would show red, unknown nodes here
        from scripts.record_object_info import comfyui_version
        from tests.workflow_validation import workflow_releases

        release = comfyui_version(Path(os.environ["COMFYUI_PATH"]))
        for path in [path for path in todo if not workflow_releases(path, [release])]:
            print(f"skipped {path.name}: it is for ComfyUI {' and '.join(workflow_releases(path))}; run this "
                  "with that ComfyUI too")
            todo.remove(path)
    if not todo:
        print("every workflow thumbnail is current")
        return 0
    with tempfile.TemporaryDirectory(prefix="hyperlora_thumbnails_") as scratch:
        report = screenshot(todo, Path(scratch))
        for path in todo:
            if path.name in report["done"]:
                save_thumbnail(Path(scratch) / f"{path.stem}.png", path)
                print(f"wrote {thumbnail_path(path).relative_to(ROOT)}")
    for failure in report["failures"]:
        print(f"failed: {failure}", file=sys.stderr)
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
