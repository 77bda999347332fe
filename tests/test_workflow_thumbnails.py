"""Every example workflow has a thumbnail (example_workflows/<name>.jpg) made from its current content.

Screenshots are not byte-reproducible, so the check is on the hash the thumbnail records, not on
pixels: a changed workflow fails here until `python scripts/make_workflow_thumbnails.py` remakes
its picture (it needs ComfyUI and Chromium; see the script).
"""

import json

from PIL import Image

from scripts import make_workflow_thumbnails as thumbs

FIX = "run: COMFYUI_PATH=/path/to/ComfyUI python scripts/make_workflow_thumbnails.py"


def test_every_workflow_has_a_current_thumbnail():
    workflows = thumbs.workflows()
    assert workflows
    stale = [path.name for path in thumbs.stale_workflows(workflows)]
    assert not stale, f"missing or stale thumbnails for {stale}\n{FIX}"
    assert not thumbs.orphan_thumbnails(), f"thumbnails without a workflow: {thumbs.orphan_thumbnails()}\n{FIX}"
    for path in workflows:
        with Image.open(thumbs.thumbnail_path(path)) as image:
            assert image.format == "JPEG" and image.width == thumbs.THUMBNAIL_WIDTH and image.height > 200, path


def test_the_recorded_hash_follows_the_content_not_the_formatting(tmp_path):
    workflow = tmp_path / "w.json"
    workflow.write_text(json.dumps({"nodes": [{"id": 1}], "links": []}))
    Image.new("RGB", (8, 8)).save(tmp_path / "shot.png")
    thumbs.save_thumbnail(tmp_path / "shot.png", workflow)
    assert thumbs.stale_workflows([workflow]) == []

    workflow.write_text(json.dumps({"links": [], "nodes": [{"id": 1}]}, indent=2))  # same graph
    assert thumbs.stale_workflows([workflow]) == []
    workflow.write_text(json.dumps({"nodes": [{"id": 2}], "links": []}))  # another graph
    assert thumbs.stale_workflows([workflow]) == [workflow]


def test_a_picture_without_our_comment_or_not_a_jpeg_counts_as_missing(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "plain.jpg")
    Image.new("RGB", (8, 8)).save(tmp_path / "png.jpg", "PNG")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    assert [thumbs.recorded_hash(tmp_path / name) for name in ("plain.jpg", "png.jpg", "broken.jpg", "none.jpg")] \
        == [None, None, None, None]
