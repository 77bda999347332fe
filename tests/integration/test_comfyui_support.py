"""On a real ComfyUI release: the pack loads whole, or (a core that lost a wrapper it needs) refuses in one line.

The second case is this release with WrappersMP.CALC_COND_BATCH deleted before the pack is imported, as a
future core without it would be: the line names the release and the wrapper, and no node module is imported.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.integration.conftest import COMFYUI_PATH, PACK_ROOT, comfyui_release

IMPORT_PACK = textwrap.dedent("""
    import importlib.util, sys
    sys.path.insert(0, sys.argv[1])
    from comfy.cli_args import args
    args.cpu = True  # as main.py --cpu, before model_management starts
    import comfy.patcher_extension
    if sys.argv[3] == "drop":
        del comfy.patcher_extension.WrappersMP.CALC_COND_BATCH
    spec = importlib.util.spec_from_file_location("custom_nodes.pack", sys.argv[2] + "/__init__.py",
                                                  submodule_search_locations=[sys.argv[2]])
    pack = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = pack
    spec.loader.exec_module(pack)
    print(sorted(pack.__all__), len([n for n in sys.modules if n.startswith("custom_nodes.pack.nodes")]))
""")


def import_pack(mode: str) -> subprocess.CompletedProcess:
    if not COMFYUI_PATH:
        pytest.skip("set COMFYUI_PATH to a ComfyUI checkout to run the integration tests")
    return subprocess.run([sys.executable, "-c", IMPORT_PACK, COMFYUI_PATH, str(PACK_ROOT), mode],
                          check=False, capture_output=True, text=True, timeout=300, cwd=COMFYUI_PATH)


def test_the_pack_loads_whole_on_this_release():
    run = import_pack("keep")
    assert run.returncode == 0, run.stderr
    names, node_modules = run.stdout.strip().rsplit(" ", 1)
    assert names == "['WEB_DIRECTORY', 'comfy_entrypoint']" and int(node_modules) > 10
    assert "HyperLoRA cannot run" not in run.stderr


def test_a_core_without_calc_cond_batch_gets_one_line_and_no_nodes():
    run = import_pack("drop")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[] 0"
    refusals = [line for line in run.stderr.splitlines() if "HyperLoRA" in line]
    assert len(refusals) == 1, run.stderr
    assert refusals[0].startswith(f"HyperLoRA cannot run on ComfyUI {comfyui_release()}: it lacks the model "
                                  "wrapper CALC_COND_BATCH"), refusals[0]
    assert "APPLY_MODEL" not in refusals[0]
