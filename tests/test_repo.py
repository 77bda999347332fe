"""Repository contracts: CI runs exactly the README's test command; the engine never imports ComfyUI."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_test_command() -> str:
    section = ROOT.joinpath("README.md").read_text().split("## Tests", 1)[1]
    return re.search(r"```bash\n(.+?)\n```", section, re.DOTALL).group(1).strip()


def test_ci_runs_the_readme_test_command():
    command = readme_test_command()
    ci_lines = [line.strip() for line in ROOT.joinpath(".ci", "run").read_text().splitlines()]
    assert command in ci_lines


def test_engine_never_imports_comfy():
    for path in (ROOT / "hyperlora_core").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                root = name.split(".")[0]
                assert root not in {"comfy", "folder_paths", "server", "nodes", "comfy_extras"}, f"{path}: {name}"


def test_requirements_do_not_pull_torch():
    for name in ("requirements.txt", "requirements-test.txt"):
        for line in ROOT.joinpath(name).read_text().splitlines():
            assert not re.match(r"\s*torch\b", line), f"{name} must not list torch (ComfyUI provides it): {line}"
