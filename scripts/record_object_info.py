"""Records a ComfyUI release's core `/object_info` into tests/data/object_info/comfyui-<version>.json.

    COMFYUI_PATH=/path/to/ComfyUI python scripts/record_object_info.py

Starts `main.py --cpu` of that ComfyUI with an empty base folder (no custom nodes) on a free loopback
port, reads `/object_info` once and writes it sorted, one node per line, so a diff shows what a release
changed. The unit tests validate the shipped workflows against these files without a server, so a
renamed or changed core node is caught on every release we support.

    COMFYUI_PATH=/path/to/ComfyUI python scripts/record_object_info.py --pack OUT.json

records instead our own nodes only (the pack symlinked into custom_nodes), for comparing what the server
says about them before and after a change of node API (scripts/compare_node_info.py).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

OUT_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "object_info"


def comfyui_version(path: Path) -> str:
    """The release, from comfyui_version.py's `__version__ = "0.3.64"` line (read, not executed)."""
    found = re.search(r'__version__\s*=\s*"([^"]+)"', (path / "comfyui_version.py").read_text())
    if not found:
        sys.exit(f"No __version__ in {path / 'comfyui_version.py'}: is COMFYUI_PATH a ComfyUI checkout?")
    return found.group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch_object_info(comfyui: Path, timeout_s: float = 180, with_pack: bool = False) -> dict:
    port = free_port()
    with tempfile.TemporaryDirectory() as base, open(Path(base) / "server.log", "w") as log:
        (Path(base) / "custom_nodes").mkdir()  # main.py lists it at start; empty: core nodes only
        if with_pack:
            (Path(base) / "custom_nodes" / "comfyui-hyperlora").symlink_to(OUT_DIR.parents[2], target_is_directory=True)
        process = subprocess.Popen(
            [sys.executable, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port), "--base-directory",
             base, "--disable-auto-launch"], cwd=comfyui, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    sys.exit(f"ComfyUI exited with {process.returncode}:\n{(Path(base) / 'server.log').read_text()}")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/object_info", timeout=30) as response:
                        return json.loads(response.read())
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    time.sleep(0.5)
            sys.exit(f"ComfyUI did not answer within {timeout_s} s")
        finally:
            process.terminate()
            process.wait(timeout=30)


def main() -> None:
    path = os.environ.get("COMFYUI_PATH")
    if not path:
        sys.exit("Set COMFYUI_PATH to a ComfyUI checkout, and run this with that ComfyUI's Python.")
    comfyui = Path(path).resolve()
    if sys.argv[1:2] == ["--pack"] and len(sys.argv) == 3:
        info = fetch_object_info(comfyui, with_pack=True)
        ours = {name: node for name, node in info.items() if node.get("python_module", "").startswith("custom_nodes.")}
        if not ours:
            sys.exit("The server lists none of our nodes: see its log for the import error.")
        Path(sys.argv[2]).write_text(json.dumps(ours, indent=1, sort_keys=True) + "\n")
        print(f"{sys.argv[2]}: {len(ours)} nodes of the pack")
        return
    info = fetch_object_info(comfyui)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    out = OUT_DIR / f"comfyui-{comfyui_version(comfyui)}.json"
    lines = [f"{json.dumps(name)}: {json.dumps(info[name], sort_keys=True)}" for name in sorted(info)]
    out.write_text("{\n" + ",\n".join(lines) + "\n}\n")
    print(f"{out}: {len(info)} nodes")


if __name__ == "__main__":
    main()
