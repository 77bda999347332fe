"""The web extension (web/js) in a real browser: a real ComfyUI server with the pack, headless Chromium.

Checks that our JS files load and register their extensions, that they cause no console or page
errors, that a HyperLoRA loader node shows the setup status from GET /hyperlora/setup (found, then
missing after a file is removed and "check again" is clicked), that a click on a face in the
Encode Face picker picks that face (and digit / arrow keys do too), and that the server log shows
no traceback of ours. Every check runs in both renderers, test ids `[classic]` and `[nodes2]`
(Nodes 2.0, the Vue node renderer; skipped, with the reason, on frontends without it, e.g. 1.27.10).

The frontend is the server's own, or the `static` folder in COMFYUI_FRONTEND_ROOT (served with
--front-end-root), e.g. 1.58.1:
    pip download --no-deps comfyui-frontend-package==1.58.1 -d /tmp/fe && unzip -q /tmp/fe/*.whl -d /tmp/fe/fe158
    COMFYUI_FRONTEND_ROOT=/tmp/fe/fe158/comfyui_frontend_package/static COMFYUI_PATH=... pytest ...

Set-up (once; nothing is downloaded at test time):
    apt-get install -y chromium                          # the browser, at /usr/bin/chromium
    cd tests/integration && npm install --no-save playwright-core   # git-ignored node_modules here
    # (or any node_modules folder on NODE_PATH; never `npx playwright install`: it downloads browsers)
Run:
    COMFYUI_PATH=/tmp/comfy /tmp/comfy-venv/bin/python -m pytest tests/integration/test_web_extension.py
Skipped, with the reason, without COMFYUI_PATH, Chromium, node or playwright-core.

browser_check.mjs drives the page and reports what it saw as JSON; the assertions are all here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.integration.conftest import COMFYUI_PATH, PACK_DIR_NAME, PACK_ROOT, install_pack, running_comfyui
from tests.integration.log_checks import our_log_problems

HERE = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SERVER_START_TIMEOUT_S = 60
BROWSER_TIMEOUT_S = 90
VARIANT = "my_variant"
REMOVED_FILE = "resampler.safetensors"

# The Encode Face preview: grey photo, face 0 red, face 1 blue; boxes in image pixels, left to right.
FACE_IMAGE = "hyperlora_web_test_faces.png"
FACE_IMAGE_SIZE = (600, 300)
FACE_BOXES = [[60, 80, 200, 240], [360, 60, 540, 260]]
FACE_COLORS = [(255, 0, 0), (0, 0, 255)]
EDGE_INSET_PX = 6  # clicks this close to a drawn box edge must land on the right side of it
# (face whose box is clicked, edge, page pixels inside the edge (negative: outside), face_index after)
FACE_CLICKS = [
    (1, "top", EDGE_INSET_PX, 1),  # picks face 1 (selection switches to "index")
    (0, "bottom", EDGE_INSET_PX, 0),  # picks face 0
    (1, "top", -EDGE_INSET_PX, 0),  # just above face 1: on the photo but on no face, nothing changes
    (1, "bottom", -EDGE_INSET_PX, 0),  # just below face 1: nothing changes
]
# Keys pressed with the picker focused, and face_index after each: a digit picks that face, arrows
# step and wrap, a digit with no such face changes nothing.
FACE_KEYS = [("1", 1), ("ArrowRight", 0), ("7", 0)]
RENDERERS = ("classic", "nodes2")
NODES2_SETTING = "Comfy.VueNodes.Enabled"
# The classic session runs in Chinese (our locales/zh translations), the Nodes 2.0 one in English; every
# other browser test in English. The browser's language (Chromium --lang) follows the frontend's.
LOCALES = {"classic": "zh", "nodes2": "en"}
BROWSER_LANGS = {"zh": "zh-CN", "en": "en-US"}
# Stored before a page opens, so that no first-start dialog covers the graph in any frontend version: the
# templates browser (shown to a "new user"), version-update notes, the missing-models warning.
QUIET_START = {"Comfy.TutorialCompleted": True, "Comfy.Notification.ShowVersionUpdates": False,
               "Comfy.Workflow.ShowMissingModelsWarning": False}

# Errors that are not ours and that a stock ComfyUI shows on this machine; each with why it is safe.
FRONTEND_404_PATHS = ("/user.css", "/api/userdata", "/favicon.ico")
# Endpoints newer frontends call that a v0.3.64 server does not have yet (see ../shared/comfyui-now.md).
NEWER_BACKEND_PATHS = ("/api/jobs", "/api/global_subgraphs", "/templates/index_logo.json")
FILTER_REASONS = {
    "external": "closed network: the frontend fetches from another host (e.g. api.comfy.org release notes)",
    "external-size": "closed network: the frontend's missing-models dialog for its default workflow asks "
                     "huggingface.co for the checkpoint's file size",
    "fresh-user-404": "the frontend probes optional files of a fresh user folder (user.css, saved workflows, "
                      "subgraphs, templates) and the favicon; stock ComfyUI answers 404",
    "newer-frontend-404": "a frontend newer than the server asks for endpoints the server does not have yet "
                          "(the jobs queue, global subgraphs, template logos)",
    "frontend-settings-bug": "ComfyUI frontend 1.27.10 on a fresh profile: Comfy.Canvas.NavigationMode's onChange "
                             "sets LeftMouseClickBehavior before that setting is registered (settingStore.addSetting);"
                             " the stack lies wholly in the frontend bundle",
    "frontend-graph-init": "ComfyUI frontend 1.49.6 reads app.rootGraph before it made one (stock 0.33 with no "
                           "custom nodes logs it too); every call's stack lies wholly in the frontend bundle",
}
# Logged by the frontend's ComfyApp.rootGraph getter; it counts whenever a stack of ours reaches it.
FRONTEND_GRAPH_INIT = "ComfyApp graph accessed before initialization"


def skip_reason() -> str | None:
    if not COMFYUI_PATH:
        return "set COMFYUI_PATH to a ComfyUI checkout to run the integration tests"
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM}: apt-get install -y chromium"
    if not shutil.which("node"):
        return "node is not installed"
    found = subprocess.run(["node", "-e", "require.resolve('playwright-core')"], cwd=HERE, capture_output=True,
                           check=False)
    if found.returncode:
        return "playwright-core not found: cd tests/integration && npm install --no-save playwright-core"
    return None


def registered_extension_names() -> set[str]:
    """The names our JS files pass to app.registerExtension, read from the source."""
    sources = "".join(path.read_text() for path in (PACK_ROOT / "web" / "js").glob("*.js"))
    return set(re.findall(r"registerExtension\(\{\s*name:\s*\"([^\"]+)\"", sources))


def write_face_image(path: Path) -> None:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", FACE_IMAGE_SIZE, (128, 128, 128))
    draw = ImageDraw.Draw(image)
    for box, color in zip(FACE_BOXES, FACE_COLORS):
        draw.rectangle(box, fill=color)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def run_browser(config: dict, workdir: Path, script: str = "browser_check.mjs",
                timeout_s: float = BROWSER_TIMEOUT_S) -> dict:
    """Run one of the browser checks here with its config; its JSON report. A hard time limit, SIGTERM
    first so Playwright closes Chromium."""
    config_path = workdir / f"{Path(script).stem}_config.json"
    config_path.write_text(json.dumps(config))
    process = subprocess.Popen(["node", str(HERE / script), str(config_path)], cwd=HERE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout_s + 30)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            stdout, stderr = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        pytest.fail(f"{script} did not finish:\n{stderr[-4000:]}")
    if process.returncode or not stdout.strip():
        pytest.fail(f"{script} failed ({process.returncode}):\n{stderr[-4000:]}")
    return json.loads(stdout.strip().splitlines()[-1])


def post_setting(url: str, setting_id: str, value) -> None:
    """Store a user setting on the server, where the frontend reads it when the page loads."""
    request = urllib.request.Request(f"{url}/settings/{setting_id}", data=json.dumps(value).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def prepare_frontend(url: str, renderer: str = "classic", locale: str = "en") -> dict:
    """Store the renderer, the language and QUIET_START as the user's settings; the config keys that make
    the browser match (pass them to run_browser)."""
    for setting_id, value in {**QUIET_START, NODES2_SETTING: renderer == "nodes2", "Comfy.Locale": locale}.items():
        post_setting(url, setting_id, value)
    return {"renderer": renderer, "lang": BROWSER_LANGS[locale]}


def version_tuple(text: str | None) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text or "")[:3])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for both renderers; stopped after the last check here."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("web_extension")
    install_pack(base)
    write_face_image(base / "input" / FACE_IMAGE)
    with running_comfyui(base, SERVER_START_TIMEOUT_S) as (url, log_path):
        with urllib.request.urlopen(f"{url}/system_stats", timeout=10) as response:
            stats = json.loads(response.read())["system"]
        yield {"url": url, "base": base, "log_path": log_path, "stats": stats,
               "variant_dir": base / "models" / "hyper_lora" / "hyper_lora" / VARIANT}


@pytest.fixture(scope="module", params=RENDERERS)
def browser(request, server, tmp_path_factory):
    """One browser session per renderer, everything checked in it reported at once."""
    from tests.synthetic_checkpoint import write_synthetic_checkpoint

    renderer = request.param
    variant_dir = server["variant_dir"]
    write_synthetic_checkpoint(variant_dir)  # whole again: the previous session removed a file
    browser_config = prepare_frontend(server["url"], renderer, LOCALES[renderer])
    faces_output = {  # what HyperLoRAEncodeFace returns as its UI output (nodes/encode.py)
        "hyperlora_faces": [{"image": 0, "width": FACE_IMAGE_SIZE[0], "height": FACE_IMAGE_SIZE[1],
                             "boxes": FACE_BOXES, "preview": {"filename": FACE_IMAGE, "subfolder": "", "type": "input"}}],
    }
    report = run_browser({
        "url": server["url"], "chromium": CHROMIUM, **browser_config,
        "profileDir": str(tmp_path_factory.mktemp(f"chromium_profile_{renderer}")),
        "timeoutMs": BROWSER_TIMEOUT_S * 1000, "removeToRecheck": str(variant_dir / REMOVED_FILE),
        "facesOutput": faces_output, "faceClicks": [{"color": FACE_COLORS[face], "edge": edge, "inset": inset}
                                                    for face, edge, inset, _ in FACE_CLICKS],
        "faceKeys": [key for key, _ in FACE_KEYS],
    }, server["base"])
    if report.get("unsupported"):
        pytest.skip(report["unsupported"])
    loaded = report["steps"].get("load", {})
    print(f"frontend {loaded.get('frontendVersion')}, renderer {renderer} (Nodes 2.0 on: {loaded.get('nodes2')}), "
          f"server {server['stats'].get('comfyui_version')}")
    report.update(renderer=renderer, url=server["url"], variant_dir=str(variant_dir),
                  server_log=server["log_path"].read_text(), stats=server["stats"])
    return report


def step(report: dict, name: str) -> dict:
    failures = [f for f in report["failures"] if f.startswith(f"{name}:") or f == "timed out"]
    assert not failures and name in report["steps"], f"browser step {name!r} failed:\n" + "\n".join(failures)
    return report["steps"][name]


def filter_reason(error: dict, server_host: str, frontend_newer: bool = False,
                  stacks: list[dict] | None = None) -> str | None:
    """Why a console or page error is unrelated to our extension, or None when it must count.
    `frontend_newer`: the frontend is newer than the server requires, so 404s of endpoints that
    only newer servers have are expected (and tolerated only then). `stacks`: the report's consoleStacks
    (text and stack script URLs of each console.error call)."""
    if "hyperlora" in json.dumps(error).lower():
        return None
    if "url" in error:  # console message; for a failed resource its url is the resource
        parts = urlsplit(error["url"])
        if error["text"] == FRONTEND_GRAPH_INIT and frontend_bundle_only(error["text"], stacks or []):
            return "frontend-graph-init"
        if frontend_newer and re.match(r"(\[Jobs API\] Error fetching jobs|Failed to fetch queue): JobsApiError: "
                                       r"Failed to fetch jobs: 404", error["text"]):
            return "newer-frontend-404"
        if error["text"].startswith("Error fetching file size: TypeError: Failed to fetch"):
            return "external-size"
        if error["text"].startswith("Failed to load resource"):
            if parts.hostname and parts.netloc != server_host:
                return "external"
            if "status of 404" in error["text"] and parts.path.startswith(FRONTEND_404_PATHS):
                return "fresh-user-404"
            if frontend_newer and "status of 404" in error["text"] and parts.path.startswith(NEWER_BACKEND_PATHS):
                return "newer-frontend-404"
        return None
    frames = [line for line in error["stack"].splitlines()[1:] if line.strip().startswith("at ")]
    frontend_only = frames and all("/assets/" in line or "<anonymous>" in line for line in frames)
    if frontend_only and error["message"] == "Cannot read properties of undefined (reading 'id')" and any(
            "addSetting" in line for line in frames):
        return "frontend-settings-bug"
    return None


def frontend_bundle_only(text: str, stacks: list[dict]) -> bool:
    """Every console.error call with this text came from the frontend's bundle (/assets/) alone: no frame of an
    extension (ours or another's), none unknown. No recorded stack means its origin is unknown: it counts."""
    calls = [stack["urls"] for stack in stacks if stack["text"] == text]
    return bool(calls) and all(urls and all(urlsplit(url).path.startswith("/assets/") for url in urls)
                               for urls in calls)


def test_our_files_load_and_register_their_extensions(browser):
    loaded = step(browser, "load")
    ours = {f"/extensions/{PACK_DIR_NAME}/js/{path.name}" for path in (PACK_ROOT / "web" / "js").glob("*.js")}
    assert len(ours) == 7
    assert browser["ourFiles"] == {path: 200 for path in ours}
    names = registered_extension_names()
    assert names == {"hyperlora.setup_status", "hyperlora.face_picking", "hyperlora.convert_official_workflows",
                     "hyperlora.identity_thumbnails", "hyperlora.likeness_scores"}
    assert names <= set(loaded["extensions"]), f"registered: {sorted(loaded['extensions'])}"
    assert loaded["nodes2"] == (browser["renderer"] == "nodes2") == loaded["vueNodesMode"], loaded
    print(f"page ready {loaded['seconds']:.1f} s after navigation")


def test_no_console_or_page_errors_from_our_extension(browser):
    loaded = step(browser, "load")
    server_host = urlsplit(browser["url"]).netloc
    frontend_newer = version_tuple(loaded["frontendVersion"]) > version_tuple(
        browser["stats"].get("required_frontend_version"))
    counted, filtered = [], []
    for error in browser["consoleErrors"] + browser["pageErrors"]:
        reason = filter_reason(error, server_host, frontend_newer, browser.get("consoleStacks"))
        (filtered if reason else counted).append((error, reason))
    for error, reason in filtered:  # shown with -s / -rA: what was ignored and why
        print(f"filtered ({FILTER_REASONS[reason]}): {error.get('text') or error['message']} {error.get('url', '')}")
    assert not counted, "errors in the page:\n" + "\n".join(json.dumps(error) for error, _ in counted)


def test_newer_backend_404s_count_when_the_frontend_is_not_newer():
    error = {"text": "Failed to load resource: the server responded with a status of 404 (Not Found)",
             "url": "http://127.0.0.1:8188/api/jobs?status=in_progress"}
    assert filter_reason(error, "127.0.0.1:8188", frontend_newer=True) == "newer-frontend-404"
    assert filter_reason(error, "127.0.0.1:8188", frontend_newer=False) is None
    ours = {"text": "TypeError: x is undefined", "url": f"http://127.0.0.1:8188/extensions/{PACK_DIR_NAME}/js/a.js"}
    assert filter_reason(ours, "127.0.0.1:8188", frontend_newer=True) is None


def test_the_frontends_own_graph_warning_is_told_from_ours_by_its_stack():
    """Frontend 1.49.6 logs FRONTEND_GRAPH_INIT itself; the same text from a stack through an extension counts."""
    error = {"text": FRONTEND_GRAPH_INIT, "url": "http://127.0.0.1:8188/assets/index-abc.js"}
    bundle = {"text": FRONTEND_GRAPH_INIT, "urls": ["http://127.0.0.1:8188/assets/index-abc.js"] * 3}
    ours = {"text": FRONTEND_GRAPH_INIT, "urls": ["http://127.0.0.1:8188/assets/index-abc.js",
                                                  f"http://127.0.0.1:8188/extensions/{PACK_DIR_NAME}/js/a.js"]}
    other = {"text": FRONTEND_GRAPH_INIT, "urls": ["http://127.0.0.1:8188/extensions/another_pack/x.js"]}
    assert filter_reason(error, "127.0.0.1:8188", stacks=[bundle, bundle]) == "frontend-graph-init"
    assert filter_reason(error, "127.0.0.1:8188", stacks=[bundle, ours]) is None
    assert filter_reason(error, "127.0.0.1:8188", stacks=[other]) is None
    assert filter_reason(error, "127.0.0.1:8188", stacks=[]) is None  # origin unknown
    assert filter_reason(error, "127.0.0.1:8188", stacks=[{"text": FRONTEND_GRAPH_INIT, "urls": []}]) is None
    another = {**error, "text": "Something else"}
    assert filter_reason(another, "127.0.0.1:8188", stacks=[{**bundle, "text": "Something else"}]) is None


def test_loader_node_shows_setup_status_from_the_server(browser):
    setup = step(browser, "setup")
    assert "setup_status" in setup["widgets"], setup
    assert f"\u2713 HyperLoRA checkpoint: {VARIANT}" in setup["found"], setup["found"]
    assert "\u2717" not in setup["found"], setup["found"]
    # status only: the saved workflow keeps exactly the node's real widget values
    assert len(setup["serialized"]) == len(setup["widgets"]) - 1, setup["serialized"]
    assert setup["shown"], "the status widget is not on the page"
    after = setup["afterRecheck"]
    assert f"\u2717 missing {REMOVED_FILE} -> put it in {browser['variant_dir']}" in after, after
    assert f"\u2713 HyperLoRA checkpoint: {VARIANT}" not in after, after


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two CSS rgb()/rgba() colours (the foreground's alpha over the background)."""
    def channels(css):
        values = [float(v) for v in re.findall(r"[\d.]+", css)]
        return values[:3], (values[3] if len(values) > 3 else 1.0)

    def luminance(rgb):
        linear = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    (fg, alpha), (bg, _) = channels(foreground), channels(background)
    fg = [alpha * f + (1 - alpha) * b for f, b in zip(fg, bg)]
    light, dark = sorted([luminance(fg), luminance(bg)], reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_contrast_formula_matches_wcag():
    assert contrast("rgb(0, 0, 0)", "rgb(255, 255, 255)") == pytest.approx(21.0)
    assert contrast("rgb(118, 118, 118)", "rgb(255, 255, 255)") == pytest.approx(4.54, abs=0.01)
    assert contrast("rgba(255, 0, 0, 0)", "rgb(30, 30, 30)") == pytest.approx(1.0)


def test_the_setup_status_is_readable_in_this_renderer(browser):
    """Issue 26: once 10 px red text with a link Nodes 2.0 hid. Measured as the browser renders it: every piece
    of text (status lines and the 'check again' button) at 12 px or more, visible, at 4.5:1 or better on what
    is behind it."""
    rendered = step(browser, "setup")["rendered"]
    assert any(item["tag"] == "BUTTON" and item["text"] == "check again" for item in rendered), rendered
    for item in rendered:
        assert float(item["fontSize"].removesuffix("px")) >= 12, item
        assert item["visible"] and item["background"], item
        assert contrast(item["color"], item["background"]) >= 4.5, item


def test_click_on_a_face_in_the_picker_picks_it(browser):
    faces = step(browser, "faces")
    print(f"frontend dialogs closed first: {browser.get('closedDialogs', [])}")
    assert faces["before"] == {"face_selection": "largest", "face_index": 0}
    assert len(faces["clicks"]) == len(FACE_CLICKS)
    for click, (face, edge, inset, expected_index) in zip(faces["clicks"], FACE_CLICKS):
        assert click["pixels"] > 1000 and click["target"]["inPicker"], f"face {face} not visible or covered: {click}"
        assert click["after"] == {"face_selection": "index", "face_index": expected_index}, (
            f"click {inset} px inside the {edge} edge of face {face}: {click}")


def test_digit_and_arrow_keys_pick_a_face(browser):
    faces = step(browser, "faces")
    for pressed, (key, expected_index) in zip(faces["keys"], FACE_KEYS, strict=True):
        assert pressed["after"] == {"face_selection": "index", "face_index": expected_index}, pressed


def test_the_picker_is_not_saved_with_the_workflow(browser):
    faces = step(browser, "faces")
    assert "face_picker" in faces["widgets"]
    assert len(faces["serialized"]) == len(faces["widgets"]) - 1, faces["serialized"]


def test_server_log_shows_no_problem_of_ours(browser):
    problems = our_log_problems(browser["server_log"])
    assert not problems, "\n\n".join(problems)


def get_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode("utf-8")


def test_the_server_serves_our_chinese_translations_and_help_pages(server):
    """The frontend gets node translations from /i18n (the server merges locales/<lang>/nodeDefs.json)
    and help pages from /extensions/<pack>/docs/<NodeName>[/<locale>].md."""
    translations = json.loads(get_text(f"{server['url']}/i18n"))
    ours = json.loads((PACK_ROOT / "locales" / "zh" / "nodeDefs.json").read_text(encoding="utf-8"))
    served = translations["zh"]["nodeDefs"]
    assert {key: served[key] for key in ours} == ours
    for page in ("HyperLoRAEncodeFace.md", "HyperLoRAEncodeFace/zh.md"):
        text = get_text(f"{server['url']}/extensions/{PACK_DIR_NAME}/docs/{page}")
        assert text == (PACK_ROOT / "web" / "docs" / page).read_text(encoding="utf-8")


def test_node_names_follow_the_users_language(browser):
    loaded = step(browser, "load")
    locale = LOCALES[browser["renderer"]]
    assert loaded["locale"] == locale
    expected = "HyperLoRA Encode Face"
    if locale == "zh":
        zh = json.loads((PACK_ROOT / "locales" / "zh" / "nodeDefs.json").read_text(encoding="utf-8"))
        expected = zh["HyperLoRAEncodeFace"]["display_name"]
        face_index = zh["HyperLoRAEncodeFace"]["inputs"]["face_index"]["name"]
        assert loaded["encodeFace"]["labels"]["face_index"] == face_index, loaded["encodeFace"]
    assert loaded["encodeFace"]["title"] == expected, loaded["encodeFace"]
    print(f"locale {locale}: widget labels {loaded['encodeFace']['labels']}")
