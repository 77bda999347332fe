"""Where the InsightFace AntelopeV2 files live, and a clear message when some are missing."""

from __future__ import annotations

from pathlib import Path

DETECTOR = "scrfd_10g_bnkps.onnx"
LANDMARKS = "2d106det.onnx"
RECOGNITION = "glintr100.onnx"
# Only these three are opened. genderage.onnx and 1k3d68.onnx come with the download but are not
# needed, so their absence is no error (insightface's FaceAnalysis would open all five).
REQUIRED_FILES = (DETECTOR, LANDMARKS, RECOGNITION)

EXPECTED_LOCATION = "ComfyUI/models/insightface/models/antelopev2/"


def _candidates(root: Path) -> list[Path]:
    """Folders that may hold the files, most specific first.

    Accepts the antelopev2 folder itself, the common unzip mistake antelopev2/antelopev2/, and the
    parents models/insightface or models/insightface/models.
    """
    folders = [root, root / "antelopev2", root / "models" / "antelopev2"]
    return [candidate for folder in folders for candidate in (folder, folder / "antelopev2")]


def _missing(folder: Path) -> list[str]:
    return [name for name in REQUIRED_FILES if not (folder / name).is_file()]


def find_antelopev2(root) -> Path:
    """Resolve the folder holding the AntelopeV2 ONNX files.

    `root` may be .../insightface/models/antelopev2 (the layout InstantID, PuLID and IP-Adapter
    FaceID users already have), the nested .../antelopev2/antelopev2 left by unzipping into a folder
    of the same name, or a parent (.../insightface or .../insightface/models).
    Raises FileNotFoundError naming every missing file and where it belongs.
    """
    root = Path(root).expanduser()
    candidates = _candidates(root)
    for folder in candidates:
        if folder.is_dir() and not _missing(folder):
            return folder
    # Report against the folder that holds the most of the files (or the first existing one).
    existing = [folder for folder in candidates if folder.is_dir()]
    best = min(existing, key=lambda folder: len(_missing(folder))) if existing else root
    missing = _missing(best) if best.is_dir() else list(REQUIRED_FILES)
    raise FileNotFoundError(
        f"InsightFace AntelopeV2 face models are incomplete: {', '.join(missing)} not found in {best}. "
        f"Put {', '.join(REQUIRED_FILES)} (from the antelopev2 download; genderage.onnx and 1k3d68.onnx "
        f"are not needed) directly in {EXPECTED_LOCATION}. If you use InstantID, PuLID or IP-Adapter "
        f"FaceID, they are probably already there."
    )
