"""The engine folder's sub-packages import one another one way only (docs/architecture.md): the engine
needs none of the others, the CLI is imported by none, and there is no circle."""

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "hyperlora_core"
SHARED = {"validate", "paths"}
ALLOWED = {
    "engine": SHARED,
    "face": SHARED | {"engine"},
    "library": SHARED | {"engine"},
    "workflows": SHARED,
    "setup": SHARED | {"engine", "face"},
    "cli": SHARED | {"engine", "face", "library", "setup", "workflows", "__init__"},
}


def imported_parts(path: Path, source: str | None = None) -> set[str]:
    """The top-level parts of hyperlora_core that a module imports (relative or absolute)."""
    package = path.relative_to(CORE).parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(source if source is not None else path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - (node.level - 1)]) if node.level > 1 else list(package)
                if node.level - 1 > len(package):
                    continue  # outside hyperlora_core (never in the engine)
                target = base + (node.module.split(".") if node.module else [])
                names = [] if node.module else [alias.name for alias in node.names]
            elif node.module and node.module.split(".")[0] == "hyperlora_core":
                target, names = node.module.split(".")[1:], [alias.name for alias in node.names]
            else:
                continue
            found |= {target[0]} if target else {name if (CORE / name).exists() or (CORE / f"{name}.py").exists()
                                                   else "__init__" for name in names}
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[1] for alias in node.names
                      if alias.name.startswith("hyperlora_core.")}
    return found


def test_sub_packages_import_one_way_only():
    for package, allowed in ALLOWED.items():
        for path in (CORE / package).rglob("*.py"):
            wrong = imported_parts(path) - allowed - {package}
            assert not wrong, f"{path.relative_to(CORE)} imports {sorted(wrong)}; docs/architecture.md says it must not"


def test_every_sub_package_is_declared():
    packages = {p.name for p in CORE.iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(ALLOWED)


def test_the_import_rules_see_relative_and_absolute_imports():
    source = ("from ..cli import main\nfrom . import lora\nfrom ..validate import finite\n"
              "from .. import face, load_hyperlora\nimport hyperlora_core.setup.check\n")
    assert imported_parts(CORE / "engine" / "probe.py", source) == {
        "cli", "engine", "validate", "face", "__init__", "setup"}
