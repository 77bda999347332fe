"""The template browser a new user opens first, in the real frontend (issue 26): this pack's folder lists this
release's workflows only, each under its title in plain words, the quick start first and the rest in the
pack's order, with thumbnails; the quick start opens from its card.

Runs on the frontend the server serves (the release's own, or 1.58.1 with COMFYUI_FRONTEND_ROOT). The frontends
show a custom pack's template name as its title and its description alike (they read no metadata for
custom-node templates), so the title is what the pack can give; nodes/templates_route.py gives it.
Same set-up as test_web_extension.py (Chromium, playwright-core; skipped with the reason without them).
"""

from __future__ import annotations

import pytest

from scripts.build_example_workflows import OUT_DIR
from tests.integration.conftest import (
    PACK_DIR_NAME,
    comfyui_release,
    install_pack,
    running_comfyui,
)
from tests.integration.log_checks import assert_no_problems_of_ours
from tests.integration.test_web_extension import CHROMIUM, prepare_frontend, run_browser, skip_reason
from tests.test_templates_route import load_templates_route

TIMEOUT_S = 120


def titles_for_this_release() -> tuple[list[str], list[str]]:
    """(titles this release must list, in order; titles of the other releases' variants, which it must not)."""
    route = load_templates_route()
    names = [path.stem for path in sorted(OUT_DIR.glob("*.json"))]
    listed = route.listed(names, comfyui_release())
    return [route.title(name) for name in listed], sorted(set(names) - set(listed))


def test_the_template_browser_lists_our_titles_in_order_and_opens_the_quick_start(tmp_path):
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    titles, not_here = titles_for_this_release()
    install_pack(tmp_path)
    with running_comfyui(tmp_path, 60) as (url, log_path):
        report = run_browser({"url": url, "chromium": CHROMIUM, "profileDir": str(tmp_path / "profile"),
                              **prepare_frontend(url), "timeoutMs": TIMEOUT_S * 1000, "pack": PACK_DIR_NAME,
                              "titles": titles}, tmp_path, "templates_browser_check.mjs", TIMEOUT_S)
    assert report["failures"] == [], report
    shown = report["steps"]["shown"]
    positions = shown["positions"]
    assert -1 not in positions, [t for t, p in zip(titles, positions) if p < 0]
    assert positions == sorted(positions), "the titles are not in the pack's order (quick start first)"
    assert not shown["hasFileNames"], shown["text"]  # titles in plain words, no file names, no variants
    thumbnails = [f for f in report["fetched"] if f["path"].endswith(".jpg")]
    assert thumbnails and all(f["status"] == 200 for f in report["fetched"]), report["fetched"]
    assert {f["path"].rsplit("/", 1)[1] for f in thumbnails} <= {f"{title}.jpg" for title in titles}
    assert f"{titles[0]}.jpg" in {f["path"].rsplit("/", 1)[1] for f in thumbnails}
    assert shown["images"] >= 1  # shown, not only fetched
    assert not_here == [] or all(name not in shown["text"] for name in not_here)
    opened = report["steps"]["opened"]
    assert "HyperLoRAApplyFace" in opened["nodeTypes"] and "KSampler" in opened["nodeTypes"]
    assert_no_problems_of_ours(log_path.read_text())
