"""The README's node reference is generated from the node schemas and must be up to date."""

from scripts import gen_node_reference as gen


def test_readme_node_reference_is_current():
    text = gen.README.read_text(encoding="utf-8")
    assert gen.updated_readme(text, gen.reference_markdown()) == text, (
        "README.md's node reference is stale: run python scripts/gen_node_reference.py")


def test_every_node_is_documented():
    text = gen.README.read_text(encoding="utf-8")
    section = text.split(gen.START, 1)[1].split(gen.END, 1)[0]
    for key in ("HyperLoRACheckpointLoader", "HyperLoRAEncodeFace", "HyperLoRAApplyFace", "HyperLoRAExportLoRA"):
        assert f"(`{key}`)" in section
