"""The workflow validator: good hand-built workflows pass, each kind of breakage is named."""

import copy

import pytest

from tests.workflow_validation import (
    CORE_OBJECT_INFO,
    REPO_ROOT,
    load_core_schemas,
    load_pack_schemas,
    schemas_from_node_classes,
    validate_workflow,
)

SCHEMAS = load_core_schemas(CORE_OBJECT_INFO)


class Workflow:
    """Builds UI-format workflows the way the frontend saves them (links recorded on both ends)."""

    def __init__(self):
        self.data = {"nodes": [], "links": [], "version": 0.4}

    def node(self, node_id, kind, inputs=(), outputs=(), widgets=None, mode=0):
        self.data["nodes"].append({
            "id": node_id, "type": kind, "mode": mode,
            "inputs": [{"name": n, "type": t, "link": None} for n, t in inputs],
            "outputs": [{"name": n, "type": t, "links": []} for n, t in outputs],
            "widgets_values": widgets if widgets is not None else [],
        })
        return self

    def link(self, origin, origin_slot, target, target_slot, kind):
        link_id = len(self.data["links"]) + 1
        self.data["links"].append([link_id, origin, origin_slot, target, target_slot, kind])
        self.get(origin)["outputs"][origin_slot]["links"].append(link_id)
        self.get(target)["inputs"][target_slot]["link"] = link_id
        return self

    def get(self, node_id):
        return next(n for n in self.data["nodes"] if n["id"] == node_id)


def txt2img() -> Workflow:
    wf = Workflow()
    wf.node(1, "CheckpointLoaderSimple", outputs=[("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE")],
            widgets=["RealVisXL_V4.0.safetensors"])
    wf.node(2, "CLIPTextEncode", inputs=[("clip", "CLIP")], outputs=[("CONDITIONING", "CONDITIONING")],
            widgets=["fcsks fxhks fhyks, a photo of a man"])
    wf.node(3, "CLIPTextEncode", inputs=[("clip", "CLIP")], outputs=[("CONDITIONING", "CONDITIONING")],
            widgets=["blurry"])
    wf.node(4, "EmptyLatentImage", outputs=[("LATENT", "LATENT")], widgets=[1024, 1024, 1])
    wf.node(5, "KSampler", inputs=[("model", "MODEL"), ("positive", "CONDITIONING"),
                                   ("negative", "CONDITIONING"), ("latent_image", "LATENT")],
            outputs=[("LATENT", "LATENT")],
            widgets=[42, "randomize", 20, 8, "euler", "normal", 1])  # the frontend saves 8.0 as 8
    wf.node(6, "VAEDecode", inputs=[("samples", "LATENT"), ("vae", "VAE")], outputs=[("IMAGE", "IMAGE")])
    wf.node(7, "SaveImage", inputs=[("images", "IMAGE")], widgets=["ComfyUI"])
    wf.link(1, 0, 5, 0, "MODEL").link(1, 1, 2, 0, "CLIP").link(1, 1, 3, 0, "CLIP")
    wf.link(2, 0, 5, 1, "CONDITIONING").link(3, 0, 5, 2, "CONDITIONING").link(4, 0, 5, 3, "LATENT")
    wf.link(5, 0, 6, 0, "LATENT").link(1, 2, 6, 1, "VAE").link(6, 0, 7, 0, "IMAGE")
    return wf


def codes(problems, node=None):
    return [p.code for p in problems if node is None or p.node == node]


def test_valid_txt2img_workflow_passes():
    assert validate_workflow(txt2img().data, SCHEMAS) == []


def test_notes_reroutes_and_legacy_upload_values_pass():
    wf = txt2img()
    wf.node(8, "Note", widgets=["Put a face photo in the Load Image node"])
    wf.node(9, "LoadImage", outputs=[("IMAGE", "IMAGE"), ("MASK", "MASK")], widgets=["me.png", "image"])
    wf.node(10, "LoadImage", outputs=[("IMAGE", "IMAGE"), ("MASK", "MASK")], widgets=["you.jpg"])
    wf.node(11, "Reroute", inputs=[("", "*")], outputs=[("", "IMAGE")])
    wf.node(12, "PreviewImage", inputs=[("images", "IMAGE")])
    wf.link(9, 0, 11, 0, "IMAGE").link(11, 0, 12, 0, "IMAGE")

    assert validate_workflow(wf.data, SCHEMAS) == []


def test_widget_fed_by_a_primitive_passes_and_wrong_primitive_type_fails():
    wf = txt2img()
    sampler = wf.get(5)
    sampler["inputs"].append({"name": "steps", "type": "INT", "widget": {"name": "steps"}, "link": None})
    wf.node(8, "PrimitiveNode", outputs=[("INT", "INT")], widgets=[30, "fixed"])
    wf.link(8, 0, 5, 4, "INT")
    assert validate_workflow(wf.data, SCHEMAS) == []

    wf.get(8)["outputs"][0]["type"] = "FLOAT"
    wf.data["links"][-1][5] = "FLOAT"
    assert codes(validate_workflow(wf.data, SCHEMAS), 5) == ["link_type_mismatch"]


def test_unknown_node_type():
    wf = txt2img().node(8, "HyperLoRAMadeUpNode")
    problems = validate_workflow(wf.data, SCHEMAS)
    assert codes(problems) == ["unknown_node_type"] and problems[0].node == 8


def test_link_between_different_types():
    wf = txt2img()
    wf.data["links"][0] = [1, 1, 1, 5, 0, "CLIP"]  # CLIP output into the sampler's model input
    wf.get(1)["outputs"][0]["links"] = []
    wf.get(1)["outputs"][1]["links"].append(1)

    problems = validate_workflow(wf.data, SCHEMAS)

    assert codes(problems) == ["link_type_mismatch"]
    assert "model" in problems[0].message and "CLIP" in problems[0].message


def test_required_input_not_connected_unless_node_is_bypassed():
    wf = txt2img()
    wf.data["links"] = [link for link in wf.data["links"] if link[0] != 5]
    wf.get(5)["inputs"][2]["link"] = None
    wf.get(3)["outputs"][0]["links"] = []

    problems = validate_workflow(wf.data, SCHEMAS)
    assert codes(problems) == ["required_input_missing"] and "'negative'" in problems[0].message

    wf.get(5)["mode"] = 4
    assert validate_workflow(wf.data, SCHEMAS) == []


@pytest.mark.parametrize("index, value, code", [
    (2, 0, "out_of_range"),  # steps min 1
    (6, 1.5, "out_of_range"),  # denoise max 1.0
    (4, "euler_fast", "combo_value"),
    (1, "random", "control_value"),
    (2, "20", "bad_value"),
    (2, 20.5, "bad_value"),
])
def test_bad_sampler_widget_values(index, value, code):
    wf = txt2img()
    wf.get(5)["widgets_values"][index] = value
    assert codes(validate_workflow(wf.data, SCHEMAS)) == [code]


def test_widget_count_must_include_control_after_generate():
    wf = txt2img()
    del wf.get(5)["widgets_values"][1]
    problems = validate_workflow(wf.data, SCHEMAS)
    assert codes(problems) == ["widget_count"] and "seed:control" in problems[0].message


def test_model_file_combos_accept_any_file_name_but_not_other_types():
    wf = txt2img()
    wf.get(1)["widgets_values"] = ["my_own_model_nobody_else_has.safetensors"]
    assert validate_workflow(wf.data, SCHEMAS) == []
    wf.get(1)["widgets_values"] = [3]
    assert codes(validate_workflow(wf.data, SCHEMAS)) == ["bad_value"]


def test_broken_links_are_reported():
    wf = txt2img()
    wf.get(6)["inputs"][1]["link"] = 99
    assert "bad_link" in codes(validate_workflow(wf.data, SCHEMAS))

    wf = txt2img()
    wf.data["links"][0][1] = 42  # origin node 42 does not exist
    assert "bad_link" in codes(validate_workflow(wf.data, SCHEMAS))


def test_wildcard_and_union_types():
    schemas = copy.deepcopy(SCHEMAS)
    schemas["AnySink"] = {"input": {"required": {"thing": ["*"], "pic": ["IMAGE,MASK"]}}, "output": []}
    wf = txt2img()
    wf.node(8, "LoadImage", outputs=[("IMAGE", "IMAGE"), ("MASK", "MASK")], widgets=["a.png"])
    wf.node(9, "AnySink", inputs=[("thing", "*"), ("pic", "IMAGE,MASK")])
    wf.link(1, 0, 9, 0, "MODEL").link(8, 1, 9, 1, "MASK")
    assert validate_workflow(wf.data, schemas) == []


def test_schemas_from_node_classes_match_object_info_shape():
    class EmptyLatentImage:
        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {
                "width": ("INT", {"default": 512, "min": 16, "max": 16384, "step": 8}),
                "height": ("INT", {"default": 512, "min": 16, "max": 16384, "step": 8}),
                "batch_size": ("INT", {"default": 1, "min": 1, "max": 4096})}}

        RETURN_TYPES = ("LATENT",)

    class Picker:
        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"image": ("IMAGE",), "mode": (["largest", "index"],)},
                    "optional": {"face_index": ("INT", {"default": 0, "min": 0, "max": 63})}}

        RETURN_TYPES = ("IMAGE", "INT")
        RETURN_NAMES = ("face", "count")

    ours = schemas_from_node_classes({"EmptyLatentImage": EmptyLatentImage, "Picker": Picker})
    core = SCHEMAS["EmptyLatentImage"]
    assert ours["EmptyLatentImage"]["output"] == core["output"]
    assert ours["EmptyLatentImage"]["input_order"] == core["input_order"]
    assert {k: v[0] for k, v in ours["EmptyLatentImage"]["input"]["required"].items()} == {
        k: v[0] for k, v in core["input"]["required"].items()}
    assert ours["Picker"]["output_name"] == ["face", "count"]

    schemas = {**SCHEMAS, **ours}
    wf = txt2img()
    wf.node(8, "Picker", inputs=[("image", "IMAGE")], outputs=[("face", "IMAGE"), ("count", "INT")],
            widgets=["index", 2])
    wf.link(6, 0, 8, 0, "IMAGE")
    assert validate_workflow(wf.data, schemas) == []
    wf.get(8)["widgets_values"] = ["biggest", 64]
    assert codes(validate_workflow(wf.data, schemas)) == ["combo_value", "out_of_range"]


def test_pack_nodes_load_without_comfyui():
    if not (REPO_ROOT / "__init__.py").is_file():
        pytest.skip("the pack's __init__.py (comfy_entrypoint) is not written yet")
    schemas = load_pack_schemas()
    assert schemas and all(name.startswith("HyperLoRA") for name in schemas)
    for schema in schemas.values():
        assert set(schema["input"]) <= {"required", "optional", "hidden"}
