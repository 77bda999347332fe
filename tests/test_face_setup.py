"""Finding and loading AntelopeV2, and choosing the ONNX Runtime provider."""

from __future__ import annotations

import shutil

import pytest

from hyperlora_core.face import FIX_COMMAND, find_antelopev2, load_face_analyzer, onnxruntime_cuda_problem
from hyperlora_core.face.providers import choose_providers
from tests.face_fixtures import analyzer, antelope_dir  # noqa: F401  (pytest fixtures)
from tests.tiny_onnx import DETECTOR_FILE, LANDMARK_FILE, RECOGNITION_FILE, UNUSED_FILES, write_antelopev2


def test_tiny_models_take_the_real_insightface_routes(analyzer):  # noqa: F811
    import insightface

    # insightface 2.x calls the SCRFD decoder SCRFD; 0.7.3 has the same code under the name RetinaFace
    expected = "RetinaFace" if insightface.__version__.startswith("0.") else "SCRFD"
    assert type(analyzer.detector).__name__ == expected
    assert analyzer.detector.use_kps and analyzer.detector.fmc == 3
    assert type(analyzer.landmarker).__name__ == "Landmark"
    assert analyzer.landmarker.lmk_num == 106
    assert type(analyzer.recognizer).__name__ == "ArcFaceONNX"
    assert analyzer.providers == ["CPUExecutionProvider"]


@pytest.mark.parametrize("given, holder", [
    ("models/antelopev2", "models/antelopev2"),            # the folder itself
    ("", "models/antelopev2"),                             # models/insightface
    ("models", "models/antelopev2"),                       # models/insightface/models
    ("models/antelopev2", "models/antelopev2/antelopev2"),  # unzipped into a folder of the same name
    ("", "models/antelopev2/antelopev2"),
])
def test_find_antelopev2_accepts_the_usual_layouts(tmp_path, given, holder):
    folder = tmp_path / holder
    folder.mkdir(parents=True)
    for name in (DETECTOR_FILE, LANDMARK_FILE, RECOGNITION_FILE):
        (folder / name).write_bytes(b"x")
    assert find_antelopev2(tmp_path / given) == folder


def test_nested_layout_loads(tmp_path, antelope_dir):  # noqa: F811
    nested = tmp_path / "insightface" / "models" / "antelopev2" / "antelopev2"
    shutil.copytree(antelope_dir, nested)
    loaded = load_face_analyzer(tmp_path / "insightface" / "models" / "antelopev2", provider="cpu")
    assert loaded.folder == nested


def test_missing_files_are_listed_with_their_place(tmp_path):
    folder = tmp_path / "models" / "antelopev2"
    write_antelopev2(folder)
    (folder / LANDMARK_FILE).unlink()
    (folder / RECOGNITION_FILE).unlink()
    with pytest.raises(FileNotFoundError) as error:
        find_antelopev2(tmp_path)
    message = str(error.value)
    assert LANDMARK_FILE in message and RECOGNITION_FILE in message
    assert f"{DETECTOR_FILE} not found" not in message
    assert str(folder) in message and "models/insightface/models/antelopev2" in message


def test_empty_root_lists_every_required_file(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        find_antelopev2(tmp_path / "nothing")
    for name in (DETECTOR_FILE, LANDMARK_FILE, RECOGNITION_FILE):
        assert name in str(error.value)
    for name in UNUSED_FILES:
        assert f"{name} not found" not in str(error.value)


def test_unused_models_are_not_needed(tmp_path):
    folder = write_antelopev2(tmp_path / "antelopev2", with_unused=False)
    assert load_face_analyzer(folder, provider="cpu").folder == folder


def test_damaged_model_file_is_named(tmp_path):
    folder = write_antelopev2(tmp_path / "antelopev2")
    (folder / RECOGNITION_FILE).write_bytes(b"truncated download")
    with pytest.raises(RuntimeError, match=RECOGNITION_FILE):
        load_face_analyzer(folder, provider="cpu")


@pytest.mark.parametrize("size, features", [(128, 512), (224, 512), (112, 256)])
def test_a_recognition_model_of_another_size_is_named_with_the_size_it_needs(tmp_path, size, features):
    """Not "the photo has no face": the file, what it takes, and what HyperLoRA needs."""
    import onnx

    from tests.tiny_onnx import build_recognition

    folder = write_antelopev2(tmp_path / "antelopev2")
    onnx.save(build_recognition(size=size, features=features), folder / RECOGNITION_FILE)
    with pytest.raises(RuntimeError, match=rf"{RECOGNITION_FILE} takes {size} x {size} face crops and gives "
                                           rf"{features} numbers, but .* 112 x 112 crops, 512 numbers"):
        load_face_analyzer(folder, provider="cpu")


GPU_PROVIDERS = ["CUDAExecutionProvider", "CPUExecutionProvider"]
CPU_PROVIDERS = ["CPUExecutionProvider"]


def test_shadowing_trap_is_explained_with_the_fix():
    message = onnxruntime_cuda_problem(["numpy", "onnxruntime", "onnxruntime_gpu", "insightface"],
                                       CPU_PROVIDERS, cuda_available=True)
    assert message is not None and "both onnxruntime" in message
    assert FIX_COMMAND in message
    assert FIX_COMMAND == "pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu"


@pytest.mark.parametrize("installed, expected", [
    (["onnxruntime"], "only the CPU package"),
    (["onnxruntime-gpu"], "cannot load CUDA"),
    (["OnnxRuntime", "onnxruntime-GPU"], "both onnxruntime"),
])
def test_other_reasons_for_a_missing_cuda_provider(installed, expected):
    message = onnxruntime_cuda_problem(installed, CPU_PROVIDERS, cuda_available=True)
    assert expected in message and FIX_COMMAND in message


@pytest.mark.parametrize("providers, cuda", [(GPU_PROVIDERS, True), (CPU_PROVIDERS, False), (GPU_PROVIDERS, False)])
def test_no_warning_when_nothing_is_wrong(providers, cuda):
    assert onnxruntime_cuda_problem(["onnxruntime", "onnxruntime-gpu"], providers, cuda_available=cuda) is None


def test_provider_choice(monkeypatch, caplog):
    import onnxruntime

    from hyperlora_core.face import providers

    assert choose_providers("cpu") == CPU_PROVIDERS
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: list(GPU_PROVIDERS))
    assert choose_providers("auto") == GPU_PROVIDERS
    assert choose_providers("cuda") == GPU_PROVIDERS
    # the trap: torch sees a GPU, onnxruntime offers only the CPU
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: list(CPU_PROVIDERS))
    monkeypatch.setattr(providers, "_torch_cuda_available", lambda: True)
    monkeypatch.setattr(providers, "_installed_distributions", lambda: ["onnxruntime", "onnxruntime-gpu"])
    monkeypatch.setattr(providers, "_warned", set())
    with caplog.at_level("WARNING", logger=providers.__name__):
        assert choose_providers("auto") == CPU_PROVIDERS
        assert choose_providers("auto") == CPU_PROVIDERS
    warnings = [record for record in caplog.records if FIX_COMMAND in record.getMessage()]
    assert len(warnings) == 1  # once per process
    with pytest.raises(RuntimeError, match="pip uninstall"):
        choose_providers("cuda")
    with pytest.raises(ValueError, match="auto, cpu, cuda"):
        choose_providers("gpu")


def test_cuda_request_without_any_gpu_is_refused(monkeypatch):
    import onnxruntime

    from hyperlora_core.face import providers

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: list(CPU_PROVIDERS))
    monkeypatch.setattr(providers, "_torch_cuda_available", lambda: False)
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        choose_providers("cuda")


def test_insightface_073_provider_prints_stay_off_stdout(capsys):
    """insightface 0.7.3 prints a line per model; the CLI's stdout must stay the LoRA path alone."""
    from hyperlora_core.face import analyzer as analyzer_module

    with pytest.raises(ValueError), analyzer_module._provider_lines_to_log():
        print("Applied providers: ['CPUExecutionProvider'], with options: {'CPUExecutionProvider': {}}")
        print("a line from somewhere else")
        raise ValueError("a damaged file")
    assert capsys.readouterr().out == "a line from somewhere else\n"
