"""Every node declares a valid V3 schema (io.ComfyNode): types, defaults in range, tooltips everywhere; the pack
registers through comfy_entrypoint() only, and says what it needs on a ComfyUI without comfy_api."""

import inspect
import json
import re
import subprocess
import sys

import pytest

from tests.comfy_standin import PACK_ROOT, comfy, models_root, run_node  # noqa: F401
from tests.face_fixtures import tiny_clip_dir  # noqa: F401

# The official ComfyUI-HyperLoRA pack's node keys: ours must not collide with them.
OFFICIAL_KEYS = {"HyperLoRAConfig", "HyperLoRALoader", "HyperLoRAIDCond", "HyperLoRABaseCond",
                 "HyperLoRAGenerateIDLoRA", "HyperLoRAGenerateBaseLoRA", "HyperLoRAApplyLoRA", "HyperLoRASaveLoRA",
                 "HyperLoRAFaceAttr", "HyperLoRAUniLoader", "HyperLoRAUniGenerateIDLoRA"}
CORE_TYPES = {"MODEL", "IMAGE", "CLIP_VISION", "STRING", "INT", "FLOAT", "BOOLEAN"}
CORE_TYPES |= {"CONDITIONING", "MASK", "HOOKS", "HOOK_KEYFRAMES"}  # the hook nodes (issue 8)
CORE_TYPES |= {"LATENT"}  # Repeat Latent (same noise) (issue 27)
OUR_TYPES = {"HYPERLORA", "HYPERLORA_FACE_ANALYZER", "HYPERLORA_FACE", "HYPERLORA_COEFFS"}


def all_inputs(node):
    spec = node.INPUT_TYPES()
    assert set(spec) <= {"required", "optional", "hidden"}
    return {**spec.get("required", {}), **spec.get("optional", {})}


def test_mappings_are_complete_and_do_not_clash(comfy):  # noqa: F811
    from comfy_api.latest import io

    mappings = comfy.nodes
    assert len(mappings) == 18
    assert not set(mappings) & OFFICIAL_KEYS
    assert comfy.pack.WEB_DIRECTORY == "./web"
    # ComfyUI takes NODE_CLASS_MAPPINGS when a module has it and then never calls comfy_entrypoint
    assert not hasattr(comfy.pack, "NODE_CLASS_MAPPINGS") and not hasattr(comfy.pack, "NODE_DISPLAY_NAME_MAPPINGS")
    for key, node in mappings.items():
        assert node.__name__ == key and issubclass(node, io.ComfyNode)
        assert node.GET_SCHEMA().display_name.startswith("HyperLoRA "), key


def test_execute_takes_exactly_the_schema_inputs(comfy):  # noqa: F811
    """ComfyUI calls execute(**inputs) by input id: a renamed input or parameter would fail only at run time."""
    for key, node in comfy.nodes.items():
        ids = [i.id for i in node.GET_SCHEMA().inputs]
        parameters = inspect.signature(node.execute).parameters
        if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):  # Mix Identities: **inputs
            continue
        assert list(parameters) == ids, key
        optional = [i.id for i in node.GET_SCHEMA().inputs if i.optional]
        assert all(parameters[name].default is not inspect.Parameter.empty for name in optional), key


def test_every_node_schema_is_valid(comfy):  # noqa: F811
    for key, node in comfy.nodes.items():
        assert node.CATEGORY == "HyperLoRA" or node.CATEGORY.startswith("HyperLoRA/"), key
        assert len(node.DESCRIPTION) > 40, key
        assert callable(node.execute), key
        outputs = node.RETURN_TYPES
        assert len(outputs) == len(node.RETURN_NAMES) == len(node.OUTPUT_TOOLTIPS) >= 1, key
        assert all(t in CORE_TYPES | OUR_TYPES for t in outputs), key
        assert all(len(tip) > 10 for tip in node.OUTPUT_TOOLTIPS), key
        for name, (kind, *options) in all_inputs(node).items():
            opts = options[0] if options else {}
            assert len(opts.get("tooltip", "")) > 10, f"{key}.{name} has no tooltip"
            if kind == "COMBO":  # its default must be one of the choices
                assert "default" not in opts or opts["default"] in opts["options"], f"{key}.{name}"
                continue
            assert kind in CORE_TYPES | OUR_TYPES, f"{key}.{name}: {kind}"
            if kind in ("INT", "FLOAT"):
                assert opts["min"] <= opts["default"] <= opts["max"], f"{key}.{name}"
            if kind == "BOOLEAN":
                assert isinstance(opts["default"], bool)


def test_lists_show_what_is_installed(comfy):  # noqa: F811
    mappings = comfy.nodes
    assert all_inputs(mappings["HyperLoRACheckpointLoader"])["checkpoint"][1]["options"] == [
        "sdxl_tiny_fidelity", "sdxl_tiny_no_base"]
    assert all_inputs(mappings["HyperLoRACLIPVisionLoader"])["clip_model"][1]["options"] == ["clip_vit_tiny"]
    assert all_inputs(mappings["HyperLoRAFaceAnalyzerLoader"])["face_model"][1]["options"] == ["antelopev2"]


def test_face_selection_choices_are_the_pipelines(comfy):  # noqa: F811
    from hyperlora_core.face import SELECT_MODES

    assert comfy.pack.nodes.encode.SELECT_MODES == SELECT_MODES


def test_importing_the_pack_loads_no_heavy_face_library():
    """insightface, onnxruntime and transformers are imported only when a face node runs."""
    result = import_pack_in_subprocess(
        "import asyncio\n"
        "nodes = asyncio.run(asyncio.run(module.comfy_entrypoint()).get_node_list())\n"
        "assert len(nodes) == 18, nodes\n"
        "print(json.dumps([m for m in ('insightface', 'onnxruntime', 'transformers', 'cv2') if m in sys.modules]))\n")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def import_pack_in_subprocess(then: str, comfy_api: str = "standin") -> subprocess.CompletedProcess:
    """Import the pack as ComfyUI does in a fresh Python, with the comfy_api stand-in ("standin"), the stand-in
    of 0.3.64 whose Schema has no search_aliases ("0.3.64"), or none ("none", a ComfyUI older than 0.3.64)."""
    setup = {"standin": "sys.modules.update(make_comfy_api())\n",
             "0.3.64": "sys.modules.update(make_comfy_api(search_aliases=False))\n",
             "none": "sys.modules['comfy_api'] = None\n"}[comfy_api]
    code = (
        "import importlib.util, json, sys, tempfile\n"
        f"sys.path.insert(0, {str(PACK_ROOT)!r})\n"
        "from pathlib import Path\n"
        "from tests.comfy_api_standin import make_comfy_api\n"
        "from tests.comfy_standin import make_folder_paths\n"
        "sys.modules['folder_paths'] = make_folder_paths(Path(tempfile.mkdtemp()))\n"
        + setup +
        f"spec = importlib.util.spec_from_file_location('pack', {str(PACK_ROOT / '__init__.py')!r})\n"
        "module = importlib.util.module_from_spec(spec); sys.modules['pack'] = module\n"
        "spec.loader.exec_module(module)\n" + then)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)


def test_a_comfyui_without_comfy_api_gets_one_line_naming_the_minimum_release():
    result = import_pack_in_subprocess(
        "print(json.dumps([name for name in ('comfy_entrypoint', 'NODE_CLASS_MAPPINGS', 'WEB_DIRECTORY') "
        "if hasattr(module, name)]))\n", comfy_api="none")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []  # registers nothing
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "ComfyUI 0.3.64 or newer" in lines[0], result.stderr


def test_on_0_3_64_the_schemas_leave_out_search_aliases():
    """0.3.64's io.Schema has no search_aliases field (and its server sends none): the nodes must still load."""
    result = import_pack_in_subprocess(
        "import asyncio, dataclasses\n"
        "nodes = asyncio.run(asyncio.run(module.comfy_entrypoint()).get_node_list())\n"
        "schemas = [node.GET_SCHEMA() for node in nodes]\n"
        "print(json.dumps([len(schemas), sorted({f.name for s in schemas for f in dataclasses.fields(s)})]))\n",
        comfy_api="0.3.64")
    assert result.returncode == 0, result.stderr
    count, fields = json.loads(result.stdout.strip().splitlines()[-1])
    assert count == 18 and "search_aliases" not in fields and "node_id" in fields


def test_missing_face_library_is_a_clear_error_on_that_node(comfy, monkeypatch):  # noqa: F811
    for name in [m for m in sys.modules if m == "insightface" or m.startswith("insightface.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "insightface", None)  # what a broken install looks like to import
    loader = comfy.node("HyperLoRAFaceAnalyzerLoader")
    with pytest.raises(RuntimeError, match="need insightface and onnxruntime"):
        loader.load("antelopev2", "cpu")


def test_file_dropdowns_refuse_a_missing_file_at_queue_time_and_say_where_it_goes(comfy):  # noqa: F811
    """ComfyUI 0.3.64 checks no V3 dropdown against its choices: our file dropdowns check themselves."""
    checkpoint = comfy.nodes["HyperLoRACheckpointLoader"]
    assert checkpoint.validate_inputs(checkpoint="sdxl_tiny_fidelity") is True
    assert checkpoint.validate_inputs(checkpoint=None) is True  # linked: checked when the node runs
    message = checkpoint.validate_inputs(checkpoint="sdxl_gone")
    assert "'sdxl_gone' not in ['sdxl_tiny_fidelity', 'sdxl_tiny_no_base']" in message
    assert "models/hyper_lora/hyper_lora/" in message
    clip = comfy.nodes["HyperLoRACLIPVisionLoader"]
    assert clip.validate_inputs(clip_model="clip_vit_tiny") is True
    assert "models/hyper_lora/clip_vit/" in clip.validate_inputs(clip_model="clip_vit_large_14")
    identity = comfy.nodes["HyperLoRALoadIdentity"]
    assert "Save Identity" in identity.validate_inputs(identity="nobody.safetensors")


FIXED_CHOICES = {  # node: {dropdown with fixed choices: one of them}
    "HyperLoRACheckpointLoader": {"dtype": "fp16", "device": "cpu"},
    "HyperLoRAFaceAnalyzerLoader": {"provider": "cpu"},
    "HyperLoRAEncodeFace": {"face_selection": "index"},
    "HyperLoRAFaceMask": {"face_selection": "largest", "shape": "box", "grow_unit": "pixels"},
    "HyperLoRAExportLoRA": {"key_style": "kohya", "precision": "bf16", "destination": "loras"},
    "HyperLoRAApplyConditioning": {"region_mode": "exact"},
}


def test_every_fixed_choice_dropdown_refuses_an_unknown_value_by_name(comfy):  # noqa: F811
    """ComfyUI 0.3.64 lets any value of a V3 dropdown through: each of ours refuses one it does not know
    before doing anything, naming the node, the input and the choices (an old or hand-edited workflow)."""
    dropdowns = {}
    for key, node in comfy.nodes.items():
        for item in node.define_schema().inputs:
            if item.get_io_type() == "COMBO" and item.id not in ("checkpoint", "face_model", "clip_model", "identity"):
                dropdowns.setdefault(key, []).append(item)
    assert {key: sorted(i.id for i in items) for key, items in dropdowns.items()} == {
        key: sorted(values) for key, values in FIXED_CHOICES.items()}
    for key, items in dropdowns.items():
        node = comfy.nodes[key]
        name = node.define_schema().display_name
        other_inputs = {item.id: None for item in node.define_schema().inputs}  # the check comes before them
        for item in items:
            for choice in item.options:  # every listed choice passes the check (the node then fails on None)
                try:
                    run_node(node, **{**other_inputs, **FIXED_CHOICES[key], item.id: choice})
                except Exception as error:  # noqa: BLE001
                    assert "is not one of" not in str(error), (key, item.id, choice)
            with pytest.raises(ValueError, match=rf"^{re.escape(name)}: {item.id} 'fp8' is not one of "
                                                 rf"{', '.join(item.options)}\. Pick one"):
                run_node(node, **{**other_inputs, **FIXED_CHOICES[key], item.id: "fp8"})


@pytest.mark.parametrize("key, call", [
    ("HyperLoRACheckpointLoader", lambda node: node.load("sdxl_tiny_fidelity", "fp16", "gpu0")),
    ("HyperLoRAFaceAnalyzerLoader", lambda node: node.load("antelopev2", "gpu0")),
    ("HyperLoRAEncodeFace", lambda node: node.encode(None, None, None, True, False, "gpu0", 0, False, True,
                                                     1.0, 1.0, 1.0, 1.0)),
    ("HyperLoRAFaceMask", lambda node: node.mask(None, None, "all", 0, "gpu0", 0.1, "face fraction", 8.0, False)),
    ("HyperLoRAExportLoRA", lambda node: node.save(None, "x", "comfy", 0.0, 0.8, "gpu0")),
])
def test_each_node_checks_its_dropdowns_before_anything_else(comfy, key, call):  # noqa: F811
    with pytest.raises(ValueError, match="'gpu0' is not one of"):
        call(comfy.node(key))
