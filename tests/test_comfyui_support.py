"""A ComfyUI the pack cannot support gets one line at start naming the release and what it lacks, and no nodes.

comfyui_support.py is checked with made-up cores (a module table), and the pack is imported as ComfyUI imports
it, in a fresh interpreter, over a made-up ComfyUI whose WrappersMP lost CALC_COND_BATCH.
tests/integration/test_comfyui_support.py does the same on the real releases.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types

import pytest

import comfyui_support as support
from tests.comfy_standin import PACK_ROOT


def core(**drop) -> dict:
    """Modules of a core that has everything the pack needs, less `drop` (module -> attribute names)."""
    wrappers = types.SimpleNamespace(APPLY_MODEL="apply_model", CALC_COND_BATCH="calc_cond_batch")
    patcher = type("ModelPatcher", (), {"add_wrapper_with_key": None, "remove_wrappers_with_key": None})
    modules = {
        "comfy_api.latest": types.SimpleNamespace(ComfyExtension=object, io=types.SimpleNamespace(ComfyNode=object)),
        "comfy.patcher_extension": types.SimpleNamespace(WrappersMP=wrappers),
        "comfy.model_patcher": types.SimpleNamespace(ModelPatcher=patcher),
        "comfy.weight_adapter": types.SimpleNamespace(LoRAAdapter=object),
        "comfyui_version": types.SimpleNamespace(__version__="0.33.0"),
    }
    for module, names in drop.items():
        for name in names:
            target = modules[module]
            *path, last = name.split(".")
            for part in path:
                target = getattr(target, part)
            delattr(target, last)
    return modules


def importer(modules: dict):
    def import_module(name):
        if name not in modules:
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return modules[name]
    return import_module


def test_a_core_with_everything_passes():
    assert support.missing_features(importer(core()), in_comfyui=True) == []


def test_each_missing_wrapper_is_named():
    modules = core(**{"comfy.patcher_extension": ["WrappersMP.CALC_COND_BATCH"]})
    missing = support.missing_features(importer(modules), in_comfyui=True)
    assert len(missing) == 1 and "CALC_COND_BATCH" in missing[0]
    modules = core(**{"comfy.patcher_extension": ["WrappersMP.APPLY_MODEL", "WrappersMP.CALC_COND_BATCH"]})
    missing = support.missing_features(importer(modules), in_comfyui=True)
    assert [("APPLY_MODEL" in m, "CALC_COND_BATCH" in m) for m in missing] == [(True, False), (False, True)]
    del modules["comfy.patcher_extension"]  # a core without the module at all
    assert len(support.missing_features(importer(modules), in_comfyui=True)) == 2


def test_without_the_node_api_nothing_else_is_looked_at():
    modules = core()
    del modules["comfy_api.latest"], modules["comfy.weight_adapter"]
    assert support.missing_features(importer(modules), in_comfyui=True) == [support.NODE_API[2]]


def test_outside_comfyui_only_the_node_api_counts():
    modules = {name: m for name, m in core().items() if not name.startswith("comfy.")}
    assert support.missing_features(importer(modules), in_comfyui=False) == []
    assert len(support.missing_features(importer(modules), in_comfyui=True)) == len(support.CORE_NEEDS) - 1


def test_a_broken_import_inside_core_is_not_taken_for_a_missing_feature():
    def broken(name):
        raise ModuleNotFoundError("No module named 'numpy'", name="numpy")
    with pytest.raises(ModuleNotFoundError, match="numpy"):
        support.missing_features(broken, in_comfyui=True)


@pytest.mark.parametrize("release, advice", [
    ("0.2.7", f"Update to ComfyUI {support.MINIMUM_COMFYUI} or newer"),
    ("0.14.1", f"Update to ComfyUI {support.NEWEST_TESTED} or newer"),
    ("0.48.2", "newer than the pack was tested on"),
    (None, f"Update to ComfyUI {support.MINIMUM_COMFYUI} or newer"),
])
def test_the_refusal_names_the_release_what_is_missing_and_what_to_do(release, advice):
    text = support.refusal(release, ["the model wrapper CALC_COND_BATCH", "LoRA weight patches"])
    assert text.count("\n") == 0 and advice in text and "The HyperLoRA nodes are not loaded." in text
    assert (f"ComfyUI {release}:" if release else "reports no version") in text
    assert "CALC_COND_BATCH" in text and "LoRA weight patches" in text


FAKE_COMFYUI = {
    "comfyui_version.py": '__version__ = "0.48.0"\n',
    "comfy/__init__.py": "",
    "comfy/patcher_extension.py": "class WrappersMP:\n    APPLY_MODEL = 'apply_model'\n",  # CALC_COND_BATCH gone
    "comfy/model_patcher.py": ("class ModelPatcher:\n    def add_wrapper_with_key(self): pass\n"
                               "    def remove_wrappers_with_key(self): pass\n"),
    "comfy/weight_adapter.py": "class LoRAAdapter: pass\n",
}
IMPORT_PACK = textwrap.dedent("""
    import importlib.util, sys
    sys.path[:0] = [sys.argv[1], sys.argv[2]]  # the made-up ComfyUI, then the repo (for the comfy_api stand-in)
    from tests.comfy_api_standin import make_comfy_api
    sys.modules.update(make_comfy_api())
    spec = importlib.util.spec_from_file_location("custom_nodes.pack", sys.argv[3] + "/__init__.py",
                                                  submodule_search_locations=[sys.argv[3]])
    pack = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = pack
    spec.loader.exec_module(pack)
    print(sorted(pack.__all__), hasattr(pack, "comfy_entrypoint"), hasattr(pack, "WEB_DIRECTORY"),
          sorted(name for name in sys.modules if name.startswith("custom_nodes.pack.")))
""")


def test_the_pack_registers_nothing_on_a_core_that_lost_a_wrapper(tmp_path):
    for name, text in FAKE_COMFYUI.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    run = subprocess.run([sys.executable, "-c", IMPORT_PACK, str(tmp_path), str(PACK_ROOT), str(PACK_ROOT)],
                         check=False, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[] False False ['custom_nodes.pack.comfyui_support']"  # no node module
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("HyperLoRA cannot run on ComfyUI 0.48.0: it lacks the model "
                                                   "wrapper CALC_COND_BATCH"), run.stderr
    assert "newer than the pack was tested on" in lines[0]


def test_the_pack_ships_no_isolation_manifest():
    """Newer core isolates only packs with a pyisolate.yaml (README, Isolated custom nodes): ours runs in process,
    where its nodes can patch the MODEL; an isolated node would only see a proxy of it."""
    assert not list(PACK_ROOT.rglob("pyisolate.yaml")) and not list(PACK_ROOT.rglob("pyisolate.yml"))
    assert "pyisolate" not in (PACK_ROOT / "pyproject.toml").read_text()
