"""The official pack's workflows convert to core + this pack, keeping layout, links and settings."""

from __future__ import annotations

import copy
import json

import pytest

from hyperlora_core.cli import main
from hyperlora_core.workflows import convert as wc
from hyperlora_core.workflows.graph import _box, _overlap
from tests.official_workflows import BUILT, Official, official, official_workflows, real_files
from tests.workflow_validation import (
    REPO_ROOT,
    _compatible,
    load_pack_schemas,
    validate_workflow,
    widget_slots,
)

CORE_SCHEMAS = REPO_ROOT / "tests" / "data" / "object_info" / "comfyui-0.3.64.json"
SCHEMAS = {**json.loads(CORE_SCHEMAS.read_text(encoding="utf-8")), **load_pack_schemas()}
OFFICIAL_WORKFLOWS = official_workflows()


class View:
    """Read access to a converted workflow by node id, widget name and input name."""

    def __init__(self, workflow: dict):
        self.workflow = workflow
        self.nodes = {n["id"]: n for n in workflow["nodes"]}
        self.links = {link[0]: link for link in workflow["links"]}

    def of_type(self, kind: str) -> list[dict]:
        return [n for n in self.nodes.values() if n["type"] == kind]

    def widget(self, node: dict, name: str):
        slots = [s for s in widget_slots(SCHEMAS[node["type"]]) if s.kind != "upload"]
        return node["widgets_values"][[s.input_name if s.kind == "value" else None for s in slots].index(name)]

    def source(self, node: dict, name: str) -> tuple[dict, int] | None:
        entry = next(e for e in node["inputs"] if e["name"] == name)
        if entry["link"] is None:
            return None
        link = self.links[entry["link"]]
        return self.nodes[link[1]], link[2]


def check_converted(result: wc.Conversion, original: dict) -> None:
    """No official node left; the schema validator finds nothing but the reported other packs' nodes;
    links touching those nodes join sockets of the type the node saved."""
    workflow = result.workflow
    kinds = {n["type"] for n in workflow["nodes"]}
    assert not kinds & (set(wc.OFFICIAL_NODE_TYPES) | set(wc.REPLACED_THIRD_PARTY))
    third_party = {node for node, *_ in result.report.third_party}
    problems = validate_workflow(workflow, SCHEMAS)
    assert [p for p in problems if not (p.code == "unknown_node_type" and p.node in third_party)] == []
    assert {p.node for p in problems} == third_party
    nodes = {n["id"]: n for n in workflow["nodes"]}
    for link_id, origin, origin_slot, target, target_slot, kind in workflow["links"]:
        out, entry = nodes[origin]["outputs"][origin_slot], nodes[target]["inputs"][target_slot]
        assert link_id in out["links"] and entry["link"] == link_id
        assert _compatible(out["type"], entry["type"]) and _compatible(kind, entry["type"]), (link_id, kind)
    assert workflow["last_link_id"] == len(workflow["links"])
    assert workflow["last_node_id"] == max(nodes)
    assert workflow["groups"] == original["groups"] and workflow["extra"] == original["extra"]
    # nodes the converter did not write keep their place; the ones it wrote (often larger) moved at most
    # to the nearest free place; no two nodes cover each other
    before = {n["id"]: n for n in original["nodes"]}
    written = {node_id for node_id, *_ in result.report.replaced} | (set(nodes) - set(before))
    for node_id, node in nodes.items():
        if node_id in before:
            assert node["mode"] == before[node_id].get("mode", 0)
            if node_id not in written:
                assert node["pos"] == before[node_id]["pos"]
            else:
                assert max(abs(a - b) for a, b in zip(node["pos"], before[node_id]["pos"])) <= 1600
    boxes = {node_id: _box(node) for node_id, node in nodes.items()}
    if not any(_overlap(_box(a), _box(b)) for a in original["nodes"] for b in original["nodes"] if a is not b):
        assert not [(a, b) for a in boxes for b in boxes if a < b and _overlap(boxes[a], boxes[b])]


@pytest.mark.parametrize("name", sorted(OFFICIAL_WORKFLOWS))
def test_every_official_workflow_converts(name):
    original = OFFICIAL_WORKFLOWS[name]
    result = wc.convert_workflow(copy.deepcopy(original))
    check_converted(result, original)
    replaced = {kind for _, kind, _, _ in result.report.replaced}
    assert replaced == {n["type"] for n in original["nodes"]} & (set(wc.OFFICIAL_NODE_TYPES) |
                                                                 set(wc.REPLACED_THIRD_PARTY))
    # core and other packs' nodes are untouched apart from their link numbers
    kept = {n["id"]: n for n in result.workflow["nodes"]}
    for node in original["nodes"]:
        if node["type"] not in replaced:
            assert kept[node["id"]]["widgets_values"] == node["widgets_values"]
            assert [e["name"] for e in kept[node["id"]]["inputs"]] == [e["name"] for e in node.get("inputs", [])]


def test_built_workflows_have_the_official_graphs():
    """Built from the recorded node forms, and laid out without overlaps (so the layout check above bites);
    with the real files named, the same node ids, types, modes and links as they have."""
    for build in BUILT.values():
        nodes = build()["nodes"]
        assert not [(a["id"], b["id"]) for a in nodes for b in nodes if a["id"] < b["id"] and _overlap(_box(a), _box(b))]
    files = real_files()
    if not files:
        pytest.skip("HYPERLORA_OFFICIAL_WORKFLOWS does not name the official workflow folder")
    assert sorted(path.stem for path in files) == sorted(BUILT)
    for path in files:
        assert graph(official(path.stem)) == graph(json.loads(path.read_text(encoding="utf-8"))), path.name


def graph(workflow: dict) -> tuple[list, list]:
    nodes = {n["id"]: n for n in workflow["nodes"]}
    return (sorted((n["id"], n["type"], n.get("mode", 0), [e["type"] for e in n.get("inputs", [])],
                    len(n.get("widgets_values") or [])) for n in workflow["nodes"]),
            sorted((o, slot, t, nodes[t]["inputs"][t_slot]["name"], kind) for _, o, slot, t, t_slot, kind in
                   workflow["links"]))


def test_t2i_settings_and_wiring_carry_over():
    original = official("HyperLoRA-T2I")
    result = wc.convert_workflow(original)
    view = View(result.workflow)
    (loader,) = view.of_type("HyperLoRACheckpointLoader")
    assert loader["id"] == 3  # the official loader's place
    assert (view.widget(loader, "checkpoint"), view.widget(loader, "dtype"), view.widget(loader, "device")) == (
        "sdxl_hyper_id_lora_v1_fidelity", "fp16", "auto")
    (clip,) = view.of_type("HyperLoRACLIPVisionLoader")
    assert clip["id"] == 2 and view.widget(clip, "clip_model") == "clip_vit_large_14"
    (analyzer,) = view.of_type("HyperLoRAFaceAnalyzerLoader")
    assert view.widget(analyzer, "face_model") == "antelopev2"
    (encode,) = view.of_type("HyperLoRAEncodeFace")
    assert encode["id"] == 7
    assert view.widget(encode, "remove_background") is True and view.widget(encode, "grayscale") is False
    assert view.widget(encode, "face_selection") == "score" and view.widget(encode, "skip_images_without_face")
    assert view.widget(encode, "base_condition") is False
    photo, _ = view.source(encode, "images")
    assert photo["type"] == "LoadImage" and photo["widgets_values"][0] == "id-01.png"  # the batch of one is gone
    assert view.source(encode, "clip_vision")[0] is clip and view.source(encode, "face_analyzer")[0] is analyzer
    (predict,) = view.of_type("HyperLoRAPredictCoefficients")
    assert view.source(predict, "hyperlora")[0] is loader and view.source(predict, "face") == (encode, 0)
    (apply,) = view.of_type("HyperLoRAApply")
    assert (view.widget(apply, "id_strength"), view.widget(apply, "base_strength")) == (0.9, 0.0)
    assert view.source(apply, "model")[0]["type"] == "CheckpointLoaderSimple"
    assert view.source(apply, "coefficients")[0] is predict
    (sampler,) = view.of_type("KSampler")
    assert view.source(sampler, "model")[0] is apply
    prompts = {n["id"]: n for n in original["nodes"] if n["type"] == "BNK_CLIPTextEncodeAdvanced"}
    for encoder in view.of_type("CLIPTextEncode"):
        assert view.widget(encoder, "text") == prompts[encoder["id"]]["widgets_values"][0]
        assert view.source(encoder, "clip")[0]["type"] == "CLIPSetLastLayer"
    assert len(view.of_type("CLIPTextEncode")) == 2
    assert any("A1111" in text for _, text in result.report.notes)


def test_concept_slider_keeps_each_identity_and_signed_weight():
    result = wc.convert_workflow(official("HyperLoRA-T2I-ConceptSlider"))
    view = View(result.workflow)
    loaders = [view.of_type(k) for k in ("HyperLoRACheckpointLoader", "HyperLoRACLIPVisionLoader",
                                         "HyperLoRAFaceAnalyzerLoader")]
    assert [len(found) for found in loaders] == [1, 1, 1]  # the Uni loader became three loaders, shared
    chain, node = [], view.of_type("KSampler")[0]
    model = view.source(node, "model")[0]
    while model["type"] == "HyperLoRAApply":
        predict = view.source(model, "coefficients")[0]
        encode = view.source(predict, "face")[0]
        chain.append((view.widget(model, "id_strength"), view.source(encode, "images")[0]["widgets_values"][0]))
        model = view.source(model, "model")[0]
    assert chain[::-1] == [(0.85, "id-02.png"), (-0.7000000000000001, "slider0.png"),
                           (0.7000000000000001, "slider1.png")]
    (detailer,) = view.of_type("FaceDetailer")
    assert view.source(detailer, "model")[0]["id"] == 25  # the last Apply, as before
    assert [kind for _, kind, _, _ in result.report.third_party] == ["FaceDetailer", "UltralyticsDetectorProvider"]
    assert "HyperLoRAFaceMask" in result.report.third_party[0][3]


def test_instantid_nodes_stay_connected_to_the_converted_graph():
    result = wc.convert_workflow(official("HyperLoRA-T2I-InstantID"))
    view = View(result.workflow)
    (instantid,) = view.of_type("ApplyInstantIDAdvanced")
    photo, _ = view.source(instantid, "image")
    assert photo["type"] == "LoadImage" and photo["widgets_values"][0] == "id-04.png"
    assert view.source(instantid, "positive")[0]["type"] == "CLIPTextEncode"
    kinds = {kind for _, kind, _, _ in result.report.third_party}
    assert kinds == {"InstantIDModelLoader", "InstantIDFaceAnalysis", "ApplyInstantIDAdvanced"}
    assert "ControlNet" in result.report.text()


# ---------------------------------------------------------------- the nodes the examples do not use


def base_lora_workflow() -> Official:
    """Three photos batched, ID and Base conditions, both LoRAs applied and the Base one saved."""
    wf = Official()
    wf.node(1, "CheckpointLoaderSimple", outputs=[("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE")],
            widgets=["sdxl.safetensors"])
    for i in (2, 3, 4):
        wf.node(i, "LoadImage", outputs=[("IMAGE", "IMAGE"), ("MASK", "MASK")], widgets=[f"p{i}.png", "image"])
    wf.node(5, "ImpactMakeImageBatch", inputs=[("image1", "IMAGE"), ("image2", "IMAGE"), ("image3", "IMAGE"),
                                               ("image4", "IMAGE")], outputs=[("IMAGE", "IMAGE")])
    wf.link(2, 0, 5, "image1").link(3, 0, 5, "image2").link(4, 0, 5, "image3")
    wf.node(6, "HyperLoRAConfig", outputs=[("HYPER_LORA_CONFIG", "HYPER_LORA_CONFIG")],
            widgets=["proc", "my_clip", 1024, 64, 12, 4, 4, "clip + arcface", "antelopev2", 512, 16, 128, 8, True])
    wf.node(7, "HyperLoRALoader", inputs=[("config", "HYPER_LORA_CONFIG")], outputs=[("HYPER_LORA", "HYPER_LORA")],
            widgets=["my_variant", "bf16"], title="My loader")
    wf.link(6, 0, 7, "config")
    wf.node(8, "Reroute", inputs=[("", "*")], outputs=[("", "HYPER_LORA")])
    wf.link(7, 0, 8, "")
    wf.node(9, "HyperLoRAFaceAttr", inputs=[("hyper_lora", "HYPER_LORA"), ("images", "IMAGE")],
            outputs=[("FACE_ATTR", "FACE_ATTR")])
    wf.link(8, 0, 9, "hyper_lora").link(5, 0, 9, "images")
    for node_id, kind, widgets in ((10, "HyperLoRAIDCond", [True, False]),
                                   (11, "HyperLoRABaseCond", [True, "1.5,1,0.5,9", False])):
        wf.node(node_id, kind, inputs=[("hyper_lora", "HYPER_LORA"), ("images", "IMAGE"), ("face_attr", "FACE_ATTR")],
                outputs=[(kind[9:].upper().replace("COND", "_COND"), "ID_COND" if node_id == 10 else "BASE_COND"),
                         ("IMAGE", "IMAGE")], widgets=widgets)
        wf.link(8, 0, node_id, "hyper_lora").link(5, 0, node_id, "images").link(9, 0, node_id, "face_attr")
    wf.node(12, "HyperLoRAGenerateIDLoRA", inputs=[("hyper_lora", "HYPER_LORA"), ("id_cond", "ID_COND")],
            outputs=[("LORA", "LORA")])
    wf.link(7, 0, 12, "hyper_lora").link(10, 0, 12, "id_cond")
    wf.node(13, "HyperLoRAGenerateBaseLoRA", inputs=[("hyper_lora", "HYPER_LORA"), ("base_cond", "BASE_COND")],
            outputs=[("LORA", "LORA")])
    wf.link(7, 0, 13, "hyper_lora").link(11, 0, 13, "base_cond")
    wf.node(14, "PrimitiveNode", outputs=[("FLOAT", "FLOAT")], widgets=[0.75])
    wf.node(15, "HyperLoRAApplyLoRA", inputs=[("model", "MODEL"), ("lora", "LORA"), ("weight", "FLOAT", True)],
            outputs=[("MODEL", "MODEL")], widgets=[0.75], mode=4)
    wf.link(1, 0, 15, "model").link(12, 0, 15, "lora").link(14, 0, 15, "weight")
    wf.node(16, "HyperLoRAApplyLoRA", inputs=[("model", "MODEL"), ("lora", "LORA")], outputs=[("MODEL", "MODEL")],
            widgets=[0.3])
    wf.link(15, 0, 16, "model").link(13, 0, 16, "lora")
    wf.node(17, "HyperLoRASaveLoRA", inputs=[("lora", "LORA")], widgets=["lora/base_only"])
    wf.link(13, 0, 17, "lora")
    wf.node(18, "PreviewImage", inputs=[("images", "IMAGE")])
    wf.link(11, 1, 18, "images")
    return wf


def test_base_condition_batches_reroutes_and_linked_widgets():
    wf = base_lora_workflow()
    original = copy.deepcopy(wf.data)
    result = wc.convert_workflow(wf.data)
    assert wf.data == original  # the input is not modified
    check_converted(result, original)
    view = View(result.workflow)
    assert view.of_type("Reroute") == []  # it carried an official socket
    (loader,) = view.of_type("HyperLoRACheckpointLoader")
    assert loader["title"] == "My loader" and view.widget(loader, "dtype") == "bf16"
    assert view.widget(view.of_type("HyperLoRACLIPVisionLoader")[0], "clip_model") == "my_clip"
    (encode,) = view.of_type("HyperLoRAEncodeFace")  # ID and Base conditions of the same photos: one node
    assert view.widget(encode, "remove_background") is False and view.widget(encode, "grayscale") is True
    assert view.widget(encode, "base_condition") is True
    crops = [view.widget(encode, f"base_crop_{side}") for side in ("left", "right", "top", "bottom")]
    assert crops == [1.5, 1.0, 0.5, 4.0]  # 9 is limited to the node's maximum
    batches = view.of_type("ImageBatch")
    assert len(batches) == 2
    last, _ = view.source(encode, "images")
    first, _ = view.source(last, "image1")
    assert [view.source(first, "image1")[0]["id"], view.source(first, "image2")[0]["id"],
            view.source(last, "image2")[0]["id"]] == [2, 3, 4]
    applies = {n["id"]: n for n in view.of_type("HyperLoRAApply")}
    assert (view.widget(applies[15], "id_strength"), view.widget(applies[15], "base_strength")) == (0.75, 0.0)
    assert applies[15]["mode"] == 4  # bypassed stays bypassed
    primitive, _ = view.source(applies[15], "id_strength")
    assert primitive["id"] == 14
    assert (view.widget(applies[16], "id_strength"), view.widget(applies[16], "base_strength")) == (0.0, 0.3)
    (export,) = view.of_type("HyperLoRAExportLoRA")
    assert view.widget(export, "filename_prefix") == "lora/base_only"
    assert (view.widget(export, "base_strength"), view.widget(export, "precision")) == (1.0, "bf16")
    (preview,) = view.of_type("PreviewImage")
    assert view.source(preview, "images") == (encode, 1)
    text = result.report.text()
    assert "safe_crop off" in text and "Base-LoRA" in text and "differ from the released" not in text


def test_converting_twice_changes_nothing():
    once = wc.convert_workflow(official("HyperLoRA-T2I")).workflow
    twice = wc.convert_workflow(copy.deepcopy(once))
    assert twice.workflow["nodes"] == once["nodes"] and twice.workflow["links"] == once["links"]
    assert twice.report.replaced == [] and not {n["type"] for n in once["nodes"]} & set(wc.OFFICIAL_NODE_TYPES)


def test_object_links_are_written_back_as_objects():
    workflow = official("HyperLoRA-T2I")
    workflow["links"] = [dict(zip(("id", "origin_id", "origin_slot", "target_id", "target_slot", "type"), link))
                         for link in workflow["links"]]
    workflow["state"] = {"lastNodeId": 17, "lastLinkId": len(workflow["links"])}
    converted = wc.convert_workflow(workflow).workflow
    assert all(isinstance(link, dict) for link in converted["links"])
    assert converted["state"]["lastLinkId"] == len(converted["links"])


def test_installed_types_name_missing_packs():
    result = wc.convert_workflow(official("HyperLoRA-T2I"), installed={"KSampler"})
    missing = {kind for _, kind, pack, _ in result.report.third_party if pack == "not installed on this server"}
    assert "EmptyLatentImage" in missing and "KSampler" not in missing and "HyperLoRAApply" not in missing


@pytest.mark.parametrize("bad, message", [
    ([], "no list of nodes"),
    ({"1": {"class_type": "KSampler", "inputs": {}}}, "API-format"),
    ({"nodes": [{"id": 1}]}, "no id or type"),
    ({"nodes": [{"id": 1, "type": "A"}, {"id": 1, "type": "B"}]}, "used twice"),
    ({"nodes": [], "links": [[1, 2]]}, "is not [id"),
])
def test_damaged_files_give_clear_errors(bad, message):
    with pytest.raises(wc.WorkflowError, match=message.replace("[", r"\[")):
        wc.convert_workflow(bad)


def test_link_loops_give_a_clear_error():
    wf = Official()
    wf.node(1, "HyperLoRAApplyLoRA", inputs=[("model", "MODEL"), ("lora", "LORA")], outputs=[("MODEL", "MODEL")])
    wf.node(2, "HyperLoRAApplyLoRA", inputs=[("model", "MODEL"), ("lora", "LORA")], outputs=[("MODEL", "MODEL")])
    wf.link(1, 0, 2, "model").link(2, 0, 1, "model")
    with pytest.raises(wc.WorkflowError, match="loop"):
        wc.convert_workflow(wf.data)


# ---------------------------------------------------------------- our nodes as the converter writes them


@pytest.mark.parametrize("kind", sorted(wc.SPECS))
def test_converter_node_specs_match_the_real_schemas(kind):
    schema = SCHEMAS[kind]
    spec = wc.SPECS[kind]
    slots = [s for s in widget_slots(schema) if s.kind == "value"]
    assert [name for name, _ in spec.widgets] == [s.input_name for s in slots]
    sockets = [(name, s[0]) for section in ("required", "optional")
               for name, s in schema["input"].get(section, {}).items() if (name, s) and not isinstance(s[0], list)
               and s[0] not in ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")]
    assert list(spec.inputs) == sockets
    assert list(spec.outputs) == list(zip(schema["output_name"], schema["output"]))
    for (name, default), slot in zip(spec.widgets, slots):
        options = slot.spec[1] if len(slot.spec) > 1 else {}
        if "default" in options and default != "":
            assert default == options["default"], name


# ---------------------------------------------------------------- the command


def test_cli_writes_the_file_and_prints_the_report(tmp_path, capsys):
    sources = tmp_path / "official"
    sources.mkdir()
    for name in ("HyperLoRA-T2I", "HyperLoRA-T2I-FaceDetailer"):
        (sources / f"{name}.json").write_text(json.dumps(official(name)), encoding="utf-8")
    out = tmp_path / "converted.json"
    assert main(["convert-workflow", str(sources / "HyperLoRA-T2I-FaceDetailer.json"), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "FaceDetailer (ComfyUI-Impact-Pack)" in printed and "HyperLoRAFaceMask" in printed
    check_converted(wc.Conversion(json.loads(out.read_text()), wc.convert_workflow(
        official("HyperLoRA-T2I-FaceDetailer")).report), official("HyperLoRA-T2I-FaceDetailer"))
    assert main(["convert-workflow", str(sources / "HyperLoRA-T2I.json"), "-o", str(out)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["convert-workflow", str(sources / "HyperLoRA-T2I.json"), "-o", str(out), "--force",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["replaced"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["converted.json", "official"]  # no temporary file left


def test_a_workflow_starting_with_a_utf8_byte_order_mark_is_read(tmp_path, capsys, monkeypatch):
    """Windows editors save a BOM before the JSON; the CLI and the web route read the workflow anyway."""
    source = tmp_path / "bom.json"
    source.write_bytes(b"\xef\xbb\xbf" + json.dumps(official("HyperLoRA-T2I")).encode())
    out = tmp_path / "out.json"
    assert main(["convert-workflow", str(source), "-o", str(out)]) == 0, capsys.readouterr().err
    assert json.loads(out.read_text()) == wc.convert_workflow(official("HyperLoRA-T2I")).workflow
    from tests.test_convert_route import post, serve

    status, answer = post(serve(monkeypatch), b"\xef\xbb\xbf" + json.dumps({"workflow": official("HyperLoRA-T2I")}).encode())
    assert status == 200 and answer["workflow"] == wc.convert_workflow(official("HyperLoRA-T2I")).workflow


def test_cli_refuses_what_is_not_a_workflow(tmp_path, capsys):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert main(["convert-workflow", str(broken), "-o", str(tmp_path / "out.json")]) == 1
    assert "not a JSON workflow" in capsys.readouterr().err
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    assert main(["convert-workflow", str(deep), "-o", str(tmp_path / "out.json")]) == 1
    err = capsys.readouterr().err
    assert str(deep) in err and "nest far too deeply" in err and "not a JSON workflow" in err
    prompt = tmp_path / "prompt.json"
    prompt.write_text(json.dumps({"3": {"class_type": "KSampler", "inputs": {}}}))
    assert main(["convert-workflow", str(prompt), "-o", str(tmp_path / "out.json")]) == 1
    assert "API-format" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()
    assert main(["convert-workflow", str(tmp_path / "missing.json"), "-o", str(tmp_path / "out.json")]) == 1



def test_the_web_extension_knows_the_same_official_types():
    source = (REPO_ROOT / "web" / "js" / "hyperlora_convert_logic.js").read_text(encoding="utf-8")
    listed = source.split("OFFICIAL_NODE_TYPES = [", 1)[1].split("];", 1)[0]
    assert sorted(name.strip().strip('"') for name in listed.split(",") if name.strip()) == sorted(
        wc.OFFICIAL_NODE_TYPES)


def test_numbers_and_texts_that_are_not_are_replaced_by_defaults():
    workflow = official("HyperLoRA-T2I")
    nodes = {n["id"]: n for n in workflow["nodes"]}
    nodes[9]["widgets_values"] = [float("nan")]  # json.loads accepts NaN; the browser does not
    nodes[12]["widgets_values"][0] = {"not": "text"}
    nodes[3]["widgets_values"] = [None, "fp16"]
    result = wc.convert_workflow(workflow)
    assert "NaN" not in json.dumps(result.workflow)
    view = View(result.workflow)
    assert view.widget(view.nodes[9], "id_strength") == 0.8
    assert view.widget(view.nodes[12], "text") == "" and view.widget(view.nodes[3], "checkpoint") == ""
    nodes[9]["widgets_values"] = [9.0]
    limited = View(wc.convert_workflow(workflow).workflow)
    assert limited.widget(limited.nodes[9], "id_strength") == 4.0
    assert "not a number" in result.report.text() and "not text" in result.report.text()


def test_very_long_chains_give_a_clear_error():
    wf = Official()
    wf.node(1, "CheckpointLoaderSimple", outputs=[("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE")])
    for i in range(2, 3000):
        wf.node(i, "HyperLoRAApplyLoRA", inputs=[("model", "MODEL"), ("lora", "LORA")], outputs=[("MODEL", "MODEL")])
        wf.link(i - 1, 0, i, "model")
    try:
        result = wc.convert_workflow(wf.data)
    except wc.WorkflowError as exc:
        assert "too many" in str(exc)
    else:  # a deep enough stack converts it: then it must be whole
        assert len(View(result.workflow).of_type("HyperLoRAApply")) == 2998


def test_random_damage_gives_a_clear_error_or_a_whole_workflow():
    """A careless edit or a broken file: every outcome is a WorkflowError or a valid conversion."""
    import random

    rng = random.Random(5)
    junk = [None, "x", -1, 3.5, [], {}, [1, 2], {"a": 1}, True, float("nan"), 10**9]
    base = official("HyperLoRA-T2I-ConceptSlider")
    for _ in range(120):
        workflow = copy.deepcopy(base)
        for _ in range(rng.randint(1, 3)):
            node = rng.choice(workflow["nodes"])
            where = rng.choice(["node", "input", "output", "widgets", "link"])
            if where == "node":
                node[rng.choice(["id", "type", "inputs", "outputs", "pos", "widgets_values"])] = rng.choice(junk)
            elif where == "input" and isinstance(node.get("inputs"), list) and node["inputs"]:
                rng.choice(node["inputs"])[rng.choice(["link", "name"])] = rng.choice(junk)
            elif where == "output" and isinstance(node.get("outputs"), list) and node["outputs"]:
                rng.choice(node["outputs"])["links"] = rng.choice(junk)
            elif where == "widgets" and isinstance(node.get("widgets_values"), list) and node["widgets_values"]:
                values = node["widgets_values"]
                values[rng.randrange(len(values))] = rng.choice(junk)
            else:
                link = rng.choice(workflow["links"])
                link[rng.randrange(6)] = rng.choice(junk)
        try:
            result = wc.convert_workflow(workflow)
        except wc.WorkflowError:
            continue
        json.dumps(result.workflow, allow_nan=False)  # the browser's JSON.parse would accept it


def test_subgraphs_are_reported_not_converted():
    workflow = official("HyperLoRA-T2I")
    inner = copy.deepcopy(official("HyperLoRA-T2I")["nodes"])
    workflow["definitions"] = {"subgraphs": [{"id": "5f0c-sub", "name": "My face", "nodes": inner}]}
    workflow["nodes"].append({"id": 99, "type": "5f0c-sub", "pos": [0, 0], "inputs": [], "outputs": []})
    result = wc.convert_workflow(workflow, installed={"KSampler"})
    assert "subgraph 'My face'" in result.report.text()
    assert "5f0c-sub" not in {kind for _, kind, _, _ in result.report.third_party}
    assert result.workflow["definitions"] == workflow["definitions"]  # left as it was


def test_a_crowded_graph_converts_quickly():
    """Layout work is bounded: 250 official nodes piled on one spot still convert in a moment."""
    import time

    wf = Official()
    wf.node(1, "CheckpointLoaderSimple", outputs=[("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE")])
    for i in range(2, 252):
        wf.node(i, "HyperLoRAApplyLoRA", inputs=[("model", "MODEL"), ("lora", "LORA")], outputs=[("MODEL", "MODEL")])
        wf.get(i)["pos"] = [0, 0]
        wf.link(i - 1, 0, i, "model")
    started = time.perf_counter()
    result = wc.convert_workflow(wf.data)
    assert time.perf_counter() - started < 10
    assert len(View(result.workflow).of_type("HyperLoRAApply")) == 250


# ---------------------------------------------------------------- every field of the wrong type (issue 19)

JUNK = [None, "x", -1, 3.5, [], {}, [1, "a"], {"a": 1}, True, float("nan"), float("inf"), 2**60, [[1]], {"id": []}]
MAX_SAFE_ID = 2**53 - 1  # the largest whole number JavaScript holds exactly


def whole_or_refused(workflow: dict) -> None:
    """A WorkflowError, or a conversion the browser can read whose node ids JavaScript can represent."""
    try:
        result = wc.convert_workflow(workflow)
    except wc.WorkflowError as exc:
        assert str(exc) and "damaged a" not in str(exc)
        return
    json.dumps(result.workflow, allow_nan=False)
    ids = [n["id"] for n in result.workflow["nodes"]] + [result.workflow["last_node_id"]]
    assert all(abs(i) <= MAX_SAFE_ID for i in ids)


def with_subgraph_and_state() -> dict:
    data = base_lora_workflow().data
    data["state"] = {"lastNodeId": 18, "lastLinkId": 20, "lastGroupId": 0, "lastRerouteId": 0}
    data["definitions"] = {"subgraphs": [{"id": "5f0c-sub", "name": "inner", "nodes": [
        {"id": 1, "type": "HyperLoRALoader"}]}]}
    return data


@pytest.mark.parametrize("junk", JUNK, ids=repr)
def test_every_top_level_field_of_the_wrong_type_is_refused_or_converted(junk):
    for key in ("last_node_id", "last_link_id", "links", "groups", "config", "extra", "version", "state",
                "definitions"):
        workflow = with_subgraph_and_state()
        workflow[key] = copy.deepcopy(junk)
        whole_or_refused(workflow)
    for key in ("lastNodeId", "lastLinkId"):
        workflow = with_subgraph_and_state()
        workflow["state"][key] = copy.deepcopy(junk)
        whole_or_refused(workflow)
    for key in ("subgraphs",):
        workflow = with_subgraph_and_state()
        workflow["definitions"][key] = copy.deepcopy(junk)
        whole_or_refused(workflow)
    for key in ("id", "name", "nodes"):
        workflow = with_subgraph_and_state()
        workflow["definitions"]["subgraphs"][0][key] = copy.deepcopy(junk)
        whole_or_refused(workflow)
        workflow = with_subgraph_and_state()
        workflow["definitions"]["subgraphs"][0]["nodes"][0]["type"] = copy.deepcopy(junk)
        whole_or_refused(workflow)


@pytest.mark.parametrize("junk", JUNK, ids=repr)
def test_every_node_field_of_the_wrong_type_is_refused_or_converted(junk):
    for node_id in (1, 7, 8, 11, 15):  # kept, official, reroute, merged official, linked widget
        for key in ("id", "type", "pos", "size", "mode", "title", "color", "inputs", "outputs",
                    "widgets_values", "properties", "flags", "order"):
            workflow = base_lora_workflow().data
            next(n for n in workflow["nodes"] if n["id"] == node_id)[key] = copy.deepcopy(junk)
            whole_or_refused(workflow)
        for key in ("pos", "size"):
            for index in (0, 1):
                workflow = base_lora_workflow().data
                node = next(n for n in workflow["nodes"] if n["id"] == node_id)
                node[key][index] = copy.deepcopy(junk)
                whole_or_refused(workflow)
        for side in ("inputs", "outputs"):
            for key in ("name", "type", "link", "links", "widget"):
                workflow = base_lora_workflow().data
                entries = next(n for n in workflow["nodes"] if n["id"] == node_id)[side]
                if entries:
                    entries[0][key] = copy.deepcopy(junk)
                    whole_or_refused(workflow)


@pytest.mark.parametrize("junk", JUNK, ids=repr)
def test_every_link_field_of_the_wrong_type_is_refused_or_converted(junk):
    for index in range(6):
        workflow = base_lora_workflow().data
        workflow["links"][0][index] = copy.deepcopy(junk)
        whole_or_refused(workflow)
        objects = base_lora_workflow().data
        objects["links"] = [dict(zip(("id", "origin_id", "origin_slot", "target_id", "target_slot", "type"), link))
                            for link in objects["links"]]
        objects["links"][0][("id", "origin_id", "origin_slot", "target_id", "target_slot", "type")[index]] = \
            copy.deepcopy(junk)
        whole_or_refused(objects)


@pytest.mark.parametrize("field, value", [("last_node_id", float("nan")), ("last_node_id", float("inf")),
                                          ("last_node_id", 2**70), ("last_node_id", "12")])
def test_a_damaged_node_counter_is_ignored_and_new_ids_stay_small(field, value):
    workflow = base_lora_workflow().data
    workflow[field] = value
    workflow["state"] = {"lastNodeId": value}
    converted = wc.convert_workflow(workflow).workflow
    assert converted["last_node_id"] < 100  # counted from the nodes themselves


def test_damaged_parts_are_named_in_plain_words():
    workflow = base_lora_workflow().data
    workflow["nodes"][0]["inputs"] = [{"name": "x", "link": "3"}]
    with pytest.raises(wc.WorkflowError, match=r"Node 1 \(CheckpointLoaderSimple\) has a damaged input or output;"):
        wc.convert_workflow(workflow)
    workflow["nodes"][0]["inputs"] = 5
    with pytest.raises(wc.WorkflowError, match=r"has damaged inputs or outputs;"):
        wc.convert_workflow(workflow)


def test_execution_order_puts_sources_first_smallest_id_first_and_breaks_loops_by_id():
    wf = Official()
    for i in (1, 2, 3, 4, 5, 6):
        wf.node(i, "KSampler", inputs=[("model", "MODEL"), ("positive", "CONDITIONING")],
                outputs=[("MODEL", "MODEL")])
    wf.link(5, 0, 1, "model").link(3, 0, 2, "model")  # 5 -> 1, 3 -> 2
    wf.link(6, 0, 4, "model").link(4, 0, 6, "positive")  # a loop: 4 <-> 6
    order = {n["id"]: n["order"] for n in wc.convert_workflow(wf.data).workflow["nodes"]}
    assert sorted(order, key=order.get) == [3, 2, 5, 1, 4, 6]


def test_ordering_thousands_of_nodes_is_not_quadratic():
    import time

    wf = Official()
    for i in range(1, 20_001):
        wf.node(i, "Note", widgets=["x"])
    wf.node(20_001, "PreviewImage", inputs=[("images", "IMAGE")])
    started = time.perf_counter()
    converted = wc.convert_workflow(wf.data).workflow
    assert time.perf_counter() - started < 4  # 14 s when every step scanned every node, 0.4 s now
    assert converted["nodes"][-1]["order"] == 20_000


# ---------------------------------------------------------------- the command's output and input (issue 19)


def not_regular_targets(folder):
    """Every kind of existing -o that is not a regular file: FIFO, device, folder, symlinks."""
    import os

    folder.mkdir()
    targets = {"FIFO": folder / "pipe.json", "folder": folder / "folder.json", "link": folder / "link.json",
               "dangling link": folder / "dangling.json", "device": folder / "null.json"}
    os.mkfifo(targets["FIFO"])
    targets["folder"].mkdir()
    (folder / "victim.json").write_text("keep me")
    targets["link"].symlink_to(folder / "victim.json")
    targets["dangling link"].symlink_to(folder / "nowhere.json")
    try:  # a character device like /dev/null (needs root; a test must not risk the real one)
        os.mknod(targets["device"], 0o666 | 0o020000, os.makedev(1, 3))
    except PermissionError:
        del targets["device"]
    return targets


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_cli_never_replaces_what_is_not_a_regular_file(tmp_path, capsys, force):
    import os
    import stat

    source = tmp_path / "in.json"
    source.write_text(json.dumps(official("HyperLoRA-T2I")))
    for what, target in not_regular_targets(tmp_path / "out").items():
        before = os.lstat(target)
        assert main(["convert-workflow", str(source), "-o", str(target), *force]) == 1, what
        err = capsys.readouterr().err
        assert str(target) in err and "not a regular file" in err, err
        after = os.lstat(target)
        assert (after.st_ino, stat.S_IFMT(after.st_mode)) == (before.st_ino, stat.S_IFMT(before.st_mode)), what
    assert (tmp_path / "out" / "victim.json").read_text() == "keep me"
    assert not list(tmp_path.rglob(".hyperlora-*"))


def test_cli_reads_at_most_the_json_limit(tmp_path, capsys, monkeypatch):
    from hyperlora_core import validate

    monkeypatch.setattr(validate, "MAX_JSON_BYTES", 1000)
    assert main(["convert-workflow", "/dev/zero", "-o", str(tmp_path / "out.json")]) == 1  # endless: not read whole
    assert "/dev/zero is larger than 1000 bytes" in capsys.readouterr().err
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"nodes": [], "pad": "x" * 2000}))
    assert main(["convert-workflow", str(big), "-o", str(tmp_path / "out.json")]) == 1
    assert "big.json is 2024 bytes, far too large" in capsys.readouterr().err
    assert main(["convert-workflow", str(tmp_path), "-o", str(tmp_path / "out.json")]) == 1  # a folder
    assert "Could not read" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()


def test_report_without_replacements_says_so_instead_of_an_empty_list():
    assert wc.Report().text().splitlines()[0] == "Replaced nothing: this workflow has no nodes of the official HyperLoRA pack."
    report = wc.Report()
    report.replaced.append((3, "HyperLoRAConfig", [(7, "HyperLoRACheckpointLoader")], ""))
    assert report.text().splitlines()[0] == "Replaced 1 node(s):"
