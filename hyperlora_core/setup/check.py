"""Which model files the pack needs, which are installed, and where missing ones go.

Users hit "file not found" far more often than any real bug, so this module answers one
question without loading anything heavy: for every file, is it there (and complete), and if
not, which exact folder must it go in and where does it come from. The ComfyUI route, the
CLI `check` command and the loader nodes all show this same report.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from ..engine.checkpoint import BASE_RESAMPLER, MODULES_JSON, REQUIRED_FILES, read_module_specs
from ..engine.safetensors_io import SafetensorsFile
from ..face.antelopev2 import REQUIRED_FILES as ANTELOPE_REQUIRED
from ..validate import load_json_file
from .onnx_check import onnx_problem

FOUND, MISSING, OPTIONAL_MISSING, DAMAGED = "found", "missing", "optional-missing", "damaged"

HYPERLORA_SOURCE = "the Hugging Face hub repository bytedance-research/HyperLoRA (licence CC BY-NC 4.0)"
ANTELOPE_SOURCE = (
    "antelopev2.zip from the insightface GitHub releases (deepinsight/insightface); "
    "unzip it so the .onnx files sit directly in this folder"
)
CLIP_SOURCE = "openai/clip-vit-large-patch14 on the Hugging Face hub"

KNOWN_VARIANTS = ("sdxl_hyper_id_lora_v1_fidelity", "sdxl_hyper_id_lora_v1_edit")
VARIANT_FILES = REQUIRED_FILES  # the loader's own list, so the two cannot disagree
VARIANT_OPTIONAL_FILES = (BASE_RESAMPLER,)
ANTELOPE_FILES = ANTELOPE_REQUIRED  # the face analyzer opens exactly these
ANTELOPE_OPTIONAL_FILES = ("genderage.onnx", "1k3d68.onnx")
CLIP_FILES = ("config.json", "model.safetensors")
OFFICIAL_CLIP_FOLDER = "clip_vit_large_14"
# The one name to give the CLIP file: what every example workflow's Load CLIP Vision loads from clip_vision/
# (tests/test_setup_check.py holds the workflows to it).
WORKFLOW_CLIP_FILE = "clip_vit_large_14.safetensors"
CLIP_VISION_SUFFIXES = (".safetensors", ".sft")

# Below this size a "model" file is a placeholder, e.g. a Git LFS pointer from a plain `git clone`.
TINY_FILE_BYTES = 1024


@dataclass
class SetupItem:
    component: str  # "hyper_lora" | "antelopev2" | "clip": lets the UI show only what a node needs
    name: str  # file name, e.g. "resampler.safetensors"
    status: str  # found | missing | optional-missing | damaged
    folder: str  # the exact folder the file is in, or must be put in
    path: str | None = None  # full path when the file exists
    hint: str = ""  # what to do / where it comes from
    variant: str | None = None  # HyperLoRA variant folder name, for "hyper_lora" items

    @property
    def is_problem(self) -> bool:
        return self.status in (MISSING, DAMAGED)


@dataclass
class SetupReport:
    models_root: str
    items: list[SetupItem]
    variants: list[str]  # installed HyperLoRA variants whose required files are all fine
    clip: str | None  # the CLIP image encoder we would use, described in words

    @property
    def ok(self) -> bool:
        return not any(item.is_problem for item in self.items)

    def problems(self) -> list[SetupItem]:
        return [item for item in self.items if item.is_problem]

    def to_json(self) -> dict:
        return {
            "ok": self.ok,
            "models_root": self.models_root,
            "variants": self.variants,
            "clip": self.clip,
            "items": [asdict(item) for item in self.items],
        }


def check_setup(
    models_root: str | Path,
    *,
    variant_dirs: Iterable[str | Path] = (),
    clip_vit_dirs: Iterable[str | Path] = (),
    insightface_dirs: Iterable[str | Path] = (),
    clip_vision_dirs: Iterable[str | Path] = (),
) -> SetupReport:
    """Check every file the pack needs under a ComfyUI `models` folder.

    The extra folder lists come from ComfyUI's folder_paths (so extra_model_paths.yaml counts):
    variant_dirs hold one folder per HyperLoRA variant (default models/hyper_lora/hyper_lora),
    clip_vit_dirs hold transformers CLIP folders (default models/hyper_lora/clip_vit),
    insightface_dirs hold models/antelopev2, clip_vision_dirs hold ComfyUI CLIP vision files.
    The default folder under `models_root` is searched first and is where missing files go.
    """
    root = Path(models_root)
    variant_dirs = _unique([root / "hyper_lora" / "hyper_lora", *map(Path, variant_dirs)])
    clip_vit_dirs = _unique([root / "hyper_lora" / "clip_vit", *map(Path, clip_vit_dirs)])
    face_dirs = _unique([root / "insightface", *map(Path, insightface_dirs)])
    vision_dirs = _unique([root / "clip_vision", *map(Path, clip_vision_dirs)])

    items: list[SetupItem] = []
    variants = _check_variants(variant_dirs, items)
    _check_antelope(face_dirs, items)
    clip = _check_clip(clip_vit_dirs, vision_dirs, items)
    return SetupReport(models_root=str(root), items=items, variants=variants, clip=clip)


# ---------------------------------------------------------------- HyperLoRA checkpoints


def _check_variants(variant_dirs: list[Path], items: list[SetupItem]) -> list[str]:
    folders = [(base, d) for base in variant_dirs for d in _variant_folders(base)]
    if not folders:
        folder = variant_dirs[0] / KNOWN_VARIANTS[0]
        hint = (f"No HyperLoRA checkpoint installed. Download the folder {KNOWN_VARIANTS[0]} "
                f"(or {KNOWN_VARIANTS[1]}) from {HYPERLORA_SOURCE} into {folder.parent}.")
        for name in VARIANT_FILES:
            items.append(SetupItem("hyper_lora", name, MISSING, str(folder), hint=hint, variant=folder.name))
        return []

    complete = []
    for base, folder in folders:
        variant = folder.relative_to(base).as_posix()  # as the loader node lists it
        variant_items = [_file_item("hyper_lora", folder, name, required=True, variant=variant,
                                    source=f"the folder {folder.name} of {HYPERLORA_SOURCE}")
                         for name in VARIANT_FILES]
        variant_items += [_file_item("hyper_lora", folder, name, required=False, variant=variant,
                                     source="only checkpoints trained with a Base-LoRA have it; "
                                            "without it the Base-LoRA output is unavailable")
                          for name in VARIANT_OPTIONAL_FILES]
        items.extend(variant_items)
        if not any(item.is_problem for item in variant_items):
            complete.append(variant)
    return complete


def _variant_folders(base: Path) -> list[Path]:
    """Folders holding checkpoint files at any depth (a download may add a wrapper folder), plus
    sub-folders holding none, so that an empty or misplaced download is reported too."""
    if not base.is_dir():
        return []
    found = {path.parent for name in VARIANT_FILES for path in base.rglob(name)}
    empty = [d for d in _subfolders(base) if not any(f == d or d in f.parents for f in found)]
    return sorted([*found, *empty])


# ---------------------------------------------------------------- face analysis (antelopev2)


def _check_antelope(face_dirs: list[Path], items: list[SetupItem]) -> None:
    folder, note = _find_antelope_folder(face_dirs)
    for name in ANTELOPE_FILES + ANTELOPE_OPTIONAL_FILES:
        required = name in ANTELOPE_FILES
        source = ANTELOPE_SOURCE if required else "not used by HyperLoRA; only part of the antelopev2 release"
        item = _file_item("antelopev2", folder, name, required=required, source=source, inspect=required)
        if note and item.status == FOUND:
            item.hint = note
        items.append(item)


def _find_antelope_folder(face_dirs: list[Path]) -> tuple[Path, str]:
    """The folder holding the antelopev2 files; the doubled folder a zip extraction makes is accepted."""
    for base in face_dirs:
        proper = base / "models" / "antelopev2"
        nested = proper / "antelopev2"
        if _has_any(proper, ANTELOPE_FILES):
            return proper, ""
        if _has_any(nested, ANTELOPE_FILES):
            return nested, (f"Found in the nested folder {nested}; it works, but other face node packs "
                            f"expect the files directly in {proper}.")
    return face_dirs[0] / "models" / "antelopev2", ""


# ---------------------------------------------------------------- CLIP ViT-L/14 image encoder


def _check_clip(clip_vit_dirs: list[Path], vision_dirs: list[Path], items: list[SetupItem]) -> str | None:
    official = [d / OFFICIAL_CLIP_FOLDER for d in clip_vit_dirs]
    others = [f for d in clip_vit_dirs for f in _subfolders(d) if f.name != OFFICIAL_CLIP_FOLDER]
    for folder in official + others:
        if _has_any(folder, CLIP_FILES):
            folder_items = [_file_item("clip", folder, name, required=True, source=CLIP_SOURCE)
                            for name in CLIP_FILES]
            items.extend(folder_items)
            if not any(item.is_problem for item in folder_items):
                return f"CLIP folder {folder} (transformers format)"
            return None

    vision_files = [f for d in vision_dirs if d.is_dir() for f in sorted(d.rglob("*"))
                    if f.suffix.lower() in CLIP_VISION_SUFFIXES and f.is_file()]
    usable, unsure = [], []
    for path in vision_files:
        kind, problem = _guarded(describe_clip_vision, path)
        if problem:
            items.append(SetupItem("clip", path.name, DAMAGED, str(path.parent), str(path), hint=problem))
            continue
        hint = f"Image encoder {kind}. Select it in a Load CLIP Vision node."
        if kind == "ViT-L/14":
            usable.append(path)
            if path.name != WORKFLOW_CLIP_FILE:
                hint += (f" The example workflows load {WORKFLOW_CLIP_FILE}: rename this file to that, or "
                         "select it in their Load CLIP Vision node.")
        elif kind.startswith("unknown"):
            unsure.append(path)
        else:
            hint += " HyperLoRA needs CLIP ViT-L/14 (224 px); this one will not work."
        items.append(SetupItem("clip", path.name, FOUND, str(path.parent), str(path), hint=hint))
    if usable:
        return f"{usable[0].name} in {usable[0].parent} (ViT-L/14, through a Load CLIP Vision node)"
    if unsure:
        return f"{unsure[0].name} in {unsure[0].parent} (could not confirm it is ViT-L/14)"

    hint = (f"No CLIP ViT-L/14 image encoder found. Download model.safetensors of {CLIP_SOURCE} and save it as "
            f"{vision_dirs[0] / WORKFLOW_CLIP_FILE}: the example workflows load it from there with Load CLIP "
            f"Vision. (The command line's make-lora and HyperLoRA CLIP Vision Loader read config.json + "
            f"model.safetensors in {official[0]} instead; either is enough for the nodes.)")
    items.append(SetupItem("clip", WORKFLOW_CLIP_FILE, MISSING, str(vision_dirs[0]), hint=hint))
    return None


def describe_clip_vision(path: str | Path) -> tuple[str, str | None]:
    """Name the architecture of a CLIP vision safetensors file from its header: (kind, problem)."""
    try:
        st = SafetensorsFile(path)
    except (ValueError, OSError) as exc:
        return "unknown", str(exc)
    shapes = {key: list(info["shape"]) for key, info in st.entries.items()}
    patch = _first_shape(shapes, ("patch_embedding.weight", "visual.conv1.weight"))
    positions = _first_shape(shapes, ("position_embedding.weight", "visual.positional_embedding"))
    if not patch or len(patch) != 4:
        return "unknown (not a CLIP vision model?)", None
    width, patch_size = patch[0], patch[-1]
    tokens = positions[0] if positions else None
    names = {1024: "ViT-L", 1280: "ViT-H", 1664: "ViT-bigG", 768: "ViT-B"}
    kind = f"{names.get(width, f'width {width}')}/{patch_size}"
    if tokens and tokens != 257 and patch_size == 14:
        kind += f" ({round((tokens - 1) ** 0.5) * 14} px)"
    return kind, None


# ---------------------------------------------------------------- file checks


def safetensors_problem(path: str | Path, float_only: bool = False) -> str | None:
    """Why a safetensors file cannot be used (truncated, LFS pointer, pickle, overlapping tensors,
    unsupported dtype; with float_only, integer tensors), or None.

    Reads only the header, with the loader's own checks: the tensors must tile the data exactly up
    to the end of the file, which catches interrupted downloads without reading gigabytes.
    """
    try:
        st = SafetensorsFile(path)
    except (ValueError, OSError) as exc:
        return str(exc)
    return st.float_problem() if float_only else None


def _file_problem(path: Path, component: str) -> str | None:
    size = path.stat().st_size
    if path.suffix == ".safetensors":
        return safetensors_problem(path, float_only=component == "hyper_lora")
    if path.suffix == ".json":
        try:
            if path.name == MODULES_JSON:
                read_module_specs(path)  # the loader's own parse: entries, numbers, module names
            else:
                load_json_file(path)
        except (ValueError, OSError) as exc:
            return str(exc)
        return None
    if size < TINY_FILE_BYTES:
        return (f"{path} is only {size} bytes, so it is a placeholder (for example a Git LFS pointer), "
                "not the model. Download the real file again.")
    if path.suffix == ".onnx":
        return onnx_problem(path)
    return None


def _guarded(check, path: Path, *args):
    """Run one file's check so that no file, however malformed, can break the whole report:
    an unexpected failure becomes that file's problem (naming it), and the other files are still checked."""
    try:
        return check(path, *args)
    except Exception as exc:  # noqa: BLE001 (reported to the user as this file's problem, not swallowed)
        problem = (f"{path} could not be checked ({type(exc).__name__}: {str(exc)[:200]}). It is probably "
                   "damaged or not the expected file: download it again.")
        return ("unknown", problem) if check is describe_clip_vision else problem


def _file_item(component: str, folder: Path, name: str, *, required: bool, source: str,
               variant: str | None = None, inspect: bool = True) -> SetupItem:
    """The status of one file; `inspect` checks its content (off for files the pack never opens)."""
    path = folder / name
    if not path.is_file():
        status = MISSING if required else OPTIONAL_MISSING
        hint = f"Source: {source}." if required else f"Optional: {source}."
        return SetupItem(component, name, status, str(folder), hint=hint, variant=variant)
    problem = _guarded(_file_problem, path, component) if inspect else None
    if problem:
        return SetupItem(component, name, DAMAGED, str(folder), str(path), hint=problem, variant=variant)
    return SetupItem(component, name, FOUND, str(folder), str(path), variant=variant)


def _first_shape(shapes: dict, suffixes: tuple[str, ...]) -> list | None:
    for key, shape in shapes.items():
        if key.endswith(suffixes) and "text" not in key:
            return shape
    return None


def _subfolders(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    except OSError:  # unreadable folder: reported as holding nothing, the others are still checked
        return []


def _has_any(folder: Path, names: tuple[str, ...]) -> bool:
    return any((folder / name).is_file() for name in names)


def _unique(paths: list[Path]) -> list[Path]:
    seen, result = set(), []
    for path in paths:
        key = os.path.realpath(path)  # never raises, even on a symlink loop
        if key not in seen:
            seen.add(key)
            result.append(path)
    return result


# ---------------------------------------------------------------- text rendering

_LABELS = {FOUND: "ok", MISSING: "MISSING", OPTIONAL_MISSING: "optional", DAMAGED: "DAMAGED"}
_TITLES = {"hyper_lora": "HyperLoRA checkpoint", "antelopev2": "Face analysis (antelopev2)",
           "clip": "CLIP ViT-L/14 image encoder"}


def render_text(report: SetupReport) -> str:
    """The report as plain text for a terminal or a log."""
    lines = [f"HyperLoRA setup check, models folder: {report.models_root}"]
    group = last_hint = None
    for item in report.items:
        title = _TITLES[item.component] + (f" {item.variant}" if item.variant else "")
        if title != group:
            group = title
            lines += ["", f"{title}:"]
        where = item.path if item.path else f"-> put it in {item.folder}"
        lines.append(f"  [{_LABELS[item.status]:>8}] {item.name}  {where}")
        if item.hint and item.status != OPTIONAL_MISSING and item.hint != last_hint:
            lines.append(f"             {item.hint}")
            last_hint = item.hint
    lines.append("")
    if report.clip:
        lines.append(f"CLIP image encoder: {report.clip}")
    problems = report.problems()
    if problems:
        lines.append(f"{len(problems)} required file(s) missing or damaged; see above.")
    else:
        lines.append("All required files are installed. Variants: " + ", ".join(report.variants))
    return "\n".join(lines)
