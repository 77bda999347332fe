"""The node help pages (web/docs) and the Chinese node translations (locales/zh) match the node schemas.

Both are generated or checked by a script from the same schemas as the README's node reference
(scripts/node_schemas.py); a new node or input fails here until its page is regenerated and its
texts are translated.
"""

import json

from scripts import gen_locales, gen_node_docs
from scripts.node_schemas import NodeSchema, node_schemas


def test_help_pages_are_current():
    found = gen_node_docs.stale_pages(gen_node_docs.expected_pages())
    assert not found, "\n".join(found) + "\nrun: python scripts/gen_node_docs.py"


def test_every_node_input_and_output_is_translated_into_chinese():
    found = gen_locales.problems(gen_locales.load("zh"), node_schemas(), gen_locales.load_source("zh"))
    assert not found, ("locales/zh/nodeDefs.json does not match the nodes:\n  " + "\n  ".join(found)
                       + "\nrun: python scripts/gen_locales.py (adds 'TODO: <English>' entries for new and changed"
                         " texts, drops obsolete ones), then translate each TODO")


def test_the_translations_are_chinese_and_in_the_frontends_layout():
    translations = json.loads(gen_locales.locale_path("zh").read_text(encoding="utf-8"))
    for key, entry in translations.items():
        assert set(entry) == {"display_name", "description", "inputs", "outputs"}, key
        assert all(set(texts) == {"name", "tooltip"} for texts in [*entry["inputs"].values(), *entry["outputs"].values()])
        assert all(index.isdigit() for index in entry["outputs"]), key  # output slots are "0", "1", ...
        assert any("\u4e00" <= char <= "\u9fff" for char in entry["description"]), key


NEW_NODE = NodeSchema("HyperLoRANewNode", "HyperLoRA New Node", "HyperLoRA", "Does something new.",
                      [("required", "amount", ("FLOAT", {"tooltip": "How much."}))],
                      [("model", "MODEL", "The model.")])


def test_a_new_node_or_input_is_reported_and_gets_a_todo_entry_to_translate():
    schemas = node_schemas()
    current = gen_locales.load("zh")
    found = gen_locales.problems(current, [*schemas, NEW_NODE])
    assert "missing HyperLoRANewNode.inputs.amount.tooltip (English: 'How much.')" in found
    assert len(found) == 6  # display name, description, input name + tooltip, output name + tooltip

    synced = gen_locales.synced(current, [*schemas, NEW_NODE])
    assert synced["HyperLoRANewNode"]["inputs"]["amount"]["tooltip"] == "TODO: How much."
    assert synced["HyperLoRAApply"] == current["HyperLoRAApply"]  # translations kept as they are
    assert all(p.startswith("untranslated HyperLoRANewNode.") for p in gen_locales.problems(synced, [*schemas, NEW_NODE]))


def test_entries_of_removed_nodes_are_obsolete():
    schemas = node_schemas()
    found = gen_locales.problems(gen_locales.load("zh"), [s for s in schemas if s.key != "HyperLoRATriggerWords"])
    assert found and all(p.startswith("obsolete HyperLoRATriggerWords.") for p in found)


def test_a_changed_english_tooltip_makes_its_translation_outdated_and_a_todo_that_keeps_it():
    schemas = node_schemas()
    current, recorded = gen_locales.load("zh"), gen_locales.load_source("zh")
    apply = next(s for s in schemas if s.key == "HyperLoRAApply")
    section, name, (kind, options) = apply.inputs[2]
    assert name == "id_strength"
    changed = NodeSchema(apply.key, apply.display, apply.category, apply.description,
                         [*apply.inputs[:2], (section, name, (kind, {**options, "tooltip": "Reworded."})),
                          *apply.inputs[3:]], apply.outputs)
    others = [s if s.key != apply.key else changed for s in schemas]

    found = gen_locales.problems(current, others, recorded)
    assert len(found) == 1 and found[0].startswith("outdated HyperLoRAApply.inputs.id_strength.tooltip")
    todo = gen_locales.synced(current, others, recorded)["HyperLoRAApply"]["inputs"]["id_strength"]["tooltip"]
    old = current["HyperLoRAApply"]["inputs"]["id_strength"]["tooltip"]
    assert todo == f"TODO: Reworded. (was: {old})"
