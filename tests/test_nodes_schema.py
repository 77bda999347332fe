"""Every node declares a valid classic-API schema: types, defaults in range, tooltips everywhere."""

import json
import subprocess
import sys

import pytest

from tests.comfy_standin import PACK_ROOT, comfy, models_root  # noqa: F401
from tests.face_fixtures import tiny_clip_dir  # noqa: F401

# The official ComfyUI-HyperLoRA pack's node keys: ours must not collide with them.
OFFICIAL_KEYS = {"HyperLoRAConfig", "HyperLoRALoader", "HyperLoRAIDCond", "HyperLoRABaseCond",
                 "HyperLoRAGenerateIDLoRA", "HyperLoRAGenerateBaseLoRA", "HyperLoRAApplyLoRA", "HyperLoRASaveLoRA",
                 "HyperLoRAFaceAttr", "HyperLoRAUniLoader", "HyperLoRAUniGenerateIDLoRA"}
CORE_TYPES = {"MODEL", "IMAGE", "CLIP_VISION", "STRING", "INT", "FLOAT", "BOOLEAN"}
CORE_TYPES |= {"CONDITIONING", "MASK", "HOOKS", "HOOK_KEYFRAMES"}  # the hook nodes (issue 8)
OUR_TYPES = {"HYPERLORA", "HYPERLORA_FACE_ANALYZER", "HYPERLORA_FACE", "HYPERLORA_COEFFS"}


def all_inputs(node):
    spec = node.INPUT_TYPES()
    assert set(spec) <= {"required", "optional", "hidden"}
    return {**spec.get("required", {}), **spec.get("optional", {})}


def test_mappings_are_complete_and_do_not_clash(comfy):  # noqa: F811
    mappings = comfy.pack.NODE_CLASS_MAPPINGS
    assert len(mappings) == 17
    assert set(mappings) == set(comfy.pack.NODE_DISPLAY_NAME_MAPPINGS)
    assert not set(mappings) & OFFICIAL_KEYS
    assert comfy.pack.WEB_DIRECTORY == "./web"
    for key, node in mappings.items():
        assert node.__name__ == key


def test_every_node_schema_is_valid(comfy):  # noqa: F811
    for key, node in comfy.pack.NODE_CLASS_MAPPINGS.items():
        assert node.CATEGORY == "HyperLoRA" or node.CATEGORY.startswith("HyperLoRA/"), key
        assert len(node.DESCRIPTION) > 40, key
        assert callable(getattr(node(), node.FUNCTION)), key
        outputs = node.RETURN_TYPES
        assert len(outputs) == len(node.RETURN_NAMES) == len(node.OUTPUT_TOOLTIPS) >= 1, key
        assert all(t in CORE_TYPES | OUR_TYPES for t in outputs), key
        assert all(len(tip) > 10 for tip in node.OUTPUT_TOOLTIPS), key
        for name, (kind, *options) in all_inputs(node).items():
            opts = options[0] if options else {}
            assert len(opts.get("tooltip", "")) > 10, f"{key}.{name} has no tooltip"
            if isinstance(kind, (list, tuple)):  # a combo: its default must be one of the choices
                assert "default" not in opts or opts["default"] in kind, f"{key}.{name}"
                continue
            assert kind in CORE_TYPES | OUR_TYPES, f"{key}.{name}: {kind}"
            if kind in ("INT", "FLOAT"):
                assert opts["min"] <= opts["default"] <= opts["max"], f"{key}.{name}"
            if kind == "BOOLEAN":
                assert isinstance(opts["default"], bool)


def test_lists_show_what_is_installed(comfy):  # noqa: F811
    mappings = comfy.pack.NODE_CLASS_MAPPINGS
    assert all_inputs(mappings["HyperLoRACheckpointLoader"])["checkpoint"][0] == [
        "sdxl_tiny_fidelity", "sdxl_tiny_no_base"]
    assert all_inputs(mappings["HyperLoRACLIPVisionLoader"])["clip_model"][0] == ["clip_vit_tiny"]
    assert all_inputs(mappings["HyperLoRAFaceAnalyzerLoader"])["face_model"][0] == ["antelopev2"]


def test_face_selection_choices_are_the_pipelines(comfy):  # noqa: F811
    from hyperlora_core.face import SELECT_MODES

    assert comfy.pack.nodes.encode.SELECT_MODES == SELECT_MODES


def test_importing_the_pack_loads_no_heavy_face_library():
    """insightface, onnxruntime and transformers are imported only when a face node runs."""
    code = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('pack', {str(PACK_ROOT / '__init__.py')!r})\n"
        "module = importlib.util.module_from_spec(spec); sys.modules['pack'] = module\n"
        "spec.loader.exec_module(module)\n"
        "print(json.dumps([m for m in ('insightface', 'onnxruntime', 'transformers', 'cv2') if m in sys.modules]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_missing_face_library_is_a_clear_error_on_that_node(comfy, monkeypatch):  # noqa: F811
    for name in [m for m in sys.modules if m == "insightface" or m.startswith("insightface.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "insightface", None)  # what a broken install looks like to import
    loader = comfy.pack.NODE_CLASS_MAPPINGS["HyperLoRAFaceAnalyzerLoader"]()
    with pytest.raises(RuntimeError, match="need insightface and onnxruntime"):
        loader.load("antelopev2", "cpu")
