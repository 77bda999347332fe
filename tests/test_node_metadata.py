"""Metadata users and the registry see: search aliases on every node, pyproject's supported versions."""

import tomllib

from tests.comfy_standin import PACK_ROOT, comfy, models_root  # noqa: F401
from tests.face_fixtures import tiny_clip_dir  # noqa: F401

# What artists type when they look for an identity node (issue 9): each finds the identity nodes.
IDENTITY_WORDS = {"face id", "faceid", "identity", "likeness", "instantid", "pulid", "ipadapter face", "character"}
IDENTITY_NODES = {"HyperLoRAEncodeFace", "HyperLoRAPredictCoefficients", "HyperLoRAApply", "HyperLoRAApplyFace",
                  "HyperLoRAMixIdentities", "HyperLoRAExportLoRA"}
# Nodes other branches add: their words are ready here so that merging only registers them.
UPCOMING_NODES = {"HyperLoRAApplyConditioning", "HyperLoRAIdentityHook", "HyperLoRAFaceMask", "HyperLoRALikeness",
                  "HyperLoRASaveIdentity", "HyperLoRALoadIdentity"}


def test_every_registered_node_has_search_aliases(comfy):  # noqa: F811
    missing = [key for key, node in comfy.nodes.items() if not node.GET_SCHEMA().search_aliases]
    assert not missing, (f"nodes without SEARCH_ALIASES: {missing}: add an entry to SEARCH_ALIASES in nodes/metadata.py "
                         "(the words an artist would type to find the node)")
    for key, node in comfy.nodes.items():
        aliases = node.GET_SCHEMA().search_aliases
        assert isinstance(aliases, list) and all(isinstance(a, str) and a.strip() == a and a for a in aliases), key
        assert len(aliases) == len(set(aliases)), key
        if key in IDENTITY_NODES:
            assert IDENTITY_WORDS <= set(aliases), (key, IDENTITY_WORDS - set(aliases))


def test_the_table_has_no_entry_for_a_node_that_does_not_exist(comfy):  # noqa: F811
    unknown = set(comfy.pack.nodes.metadata.SEARCH_ALIASES) - set(comfy.nodes) - UPCOMING_NODES
    assert not unknown, f"SEARCH_ALIASES entries for no node: {unknown}"
    assert UPCOMING_NODES <= set(comfy.pack.nodes.metadata.SEARCH_ALIASES)


def test_the_essentials_are_the_quick_start_nodes(comfy):  # noqa: F811
    """essentials_category marks the nodes of hyperlora_one_photo (the stand-in, like 0.14.1, lacks the field:
    tests/integration/test_comfyui_node_info.py checks it on a release that has it)."""
    import json

    metadata = comfy.pack.nodes.metadata
    quick_start = json.loads((PACK_ROOT / "example_workflows" / "hyperlora_one_photo.json").read_text())
    ours = {node["type"] for node in quick_start["nodes"] if node["type"] in comfy.nodes}
    assert set(metadata.ESSENTIALS) == ours
    assert [metadata.essentials_category(key) for key in sorted(comfy.nodes) if key in ours] == ["HyperLoRA"] * 4
    assert metadata.essentials_category("HyperLoRAMixIdentities") is None


def test_pyproject_declares_the_versions_the_integration_tests_run_on():
    """What `comfy node publish` (comfy-cli) sends the registry: [tool.comfy] requires-comfyui becomes
    supported_comfyui_version, a comfyui-frontend-package dependency supported_comfyui_frontend_version."""
    pyproject = tomllib.loads((PACK_ROOT / "pyproject.toml").read_text())
    # tests/integration runs on ComfyUI 0.3.64 with frontends 1.27.10 and 1.58.1 (README, Tests)
    assert pyproject["tool"]["comfy"]["requires-comfyui"] == ">=0.3.64"
    frontend = [dep for dep in pyproject["project"]["dependencies"] if dep.startswith("comfyui-frontend-package")]
    assert frontend == ["comfyui-frontend-package>=1.27.10"]
    # the rest mirrors requirements.txt, which ComfyUI-Manager installs
    requirements = [line for line in (PACK_ROOT / "requirements.txt").read_text().splitlines()
                    if line and not line.startswith("#")]
    assert [dep for dep in pyproject["project"]["dependencies"] if dep not in frontend] == requirements
