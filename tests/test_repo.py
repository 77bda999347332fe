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


def test_ruff_passes_in_a_clone_named_like_the_registry(tmp_path):
    """The README suggests `git clone ... comfyui-hyperlora`; ruff's N999 judged that folder name
    (issue 26). A fresh clone (committed files only, so a stale ignore cannot hide it) must lint clean."""
    import shutil
    import subprocess
    import sys

    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        import pytest

        pytest.skip("ruff is not installed (pip install -r requirements-test.txt)")
    root = Path(__file__).resolve().parents[1]
    clone = tmp_path / "comfyui-hyperlora"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{root}", str(clone)], check=True)
    for name in ("pyproject.toml", "requirements-test.txt"):  # the working tree's config, not only HEAD's
        shutil.copy(root / name, clone / name)
    result = subprocess.run([ruff, "check", "--no-cache", "."], check=False, cwd=clone, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_test_tools_are_pinned_the_same_in_both_lists():
    root = Path(__file__).resolve().parents[1]
    listed = [line.strip() for line in (root / "requirements-test.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert listed and all("==" in line for line in listed), listed
    extra = re.search(r"^test = \[(.*)\]", (root / "pyproject.toml").read_text(), re.MULTILINE).group(1)
    assert sorted(re.findall(r'"([^"]+)"', extra)) == sorted(listed)


def test_readme_says_which_python_and_how_to_get_cpu_torch():
    tests_section = ROOT.joinpath("README.md").read_text().split("## Tests", 1)[1].split("\n## ", 1)[0]
    minimum = re.search(r'requires-python = ">=(3\.\d+)"', ROOT.joinpath("pyproject.toml").read_text()).group(1)
    assert f"Python {minimum} or newer" in tests_section
    # A plain `pip install torch` pulls the CUDA build (gigabytes): the command names the CPU wheel index.
    assert re.search(r"^pip install torch --index-url https://download\.pytorch\.org/whl/cpu\b",
                     tests_section, re.MULTILINE)


def test_readme_commands_work_from_any_folder():
    """`python -m hyperlora_core` needs the pack's folder as cwd; the README's commands must not."""
    readme = ROOT.joinpath("README.md").read_text()
    cli_section = readme.split("## Command line", 1)[1].split("\n## ", 1)[0]
    assert "pip install -e path/to/comfyui-hyperlora" in cli_section  # installs [project.scripts] hyperlora
    assert "python custom_nodes/comfyui-hyperlora/hyperlora_core check" in cli_section  # tests/test_cli.py runs it
    for line in re.findall(r"```bash\n(.*?)```", readme, re.DOTALL):
        assert "python -m hyperlora_core" not in line
