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


def _pins(lines) -> dict:
    pins = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"test tool not pinned to one version: {line!r}"
            pins[name.strip().lower()] = version.strip()
    return pins


def test_test_tools_are_pinned_alike_in_requirements_and_pyproject():
    from_requirements = _pins(ROOT.joinpath("requirements-test.txt").read_text().splitlines())
    # tomllib is 3.11+, and the tests run on 3.10 too: the extra is one line, read as a Python list.
    extra = re.search(r"^test = (\[.*\])$", ROOT.joinpath("pyproject.toml").read_text(), re.MULTILINE)
    assert from_requirements == _pins(ast.literal_eval(extra.group(1)))
    assert {"pytest", "ruff", "onnx", "aiohttp"} <= set(from_requirements)


def test_ruff_passes_in_a_clone_named_like_the_registry(tmp_path):
    """The README suggests cloning into `comfyui-hyperlora`; the hyphen must not fail the test command."""
    import shutil
    import subprocess
    import sys

    if shutil.which("git") is None or not ROOT.joinpath(".git").exists():
        import pytest

        pytest.skip("needs git and a git checkout to clone from")
    clone = tmp_path / "comfyui-hyperlora"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], check=False, cwd=clone,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


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
