"""our_log_problems: tracebacks and import failures of our pack count, other modules' do not.

Pure text checks on logs shaped like ComfyUI v0.3.64's (nodes.py logs the traceback, then "Cannot
import ..."; the import summary marks "(IMPORT FAILED)"); no ComfyUI needed.
"""

from __future__ import annotations

from tests.integration.conftest import PACK_ROOT
from tests.integration.log_checks import our_log_problems, tracebacks

CORE_AUDIO = """Traceback (most recent call last):
  File "/opt/ComfyUI/nodes.py", line 2131, in load_custom_node
    module_spec.loader.exec_module(module)
  File "/opt/ComfyUI/comfy_extras/nodes_audio.py", line 4, in <module>
    import torchaudio
ModuleNotFoundError: No module named 'torchaudio'

Cannot import /opt/ComfyUI/comfy_extras/nodes_audio.py module for custom nodes: No module named 'torchaudio'
WARNING: some comfy_extras/ nodes did not import correctly.
IMPORT FAILED: nodes_audio.py
"""

OURS_AT_IMPORT = """Traceback (most recent call last):
  File "/opt/ComfyUI/nodes.py", line 2131, in load_custom_node
    module_spec.loader.exec_module(module)
  File "/opt/ComfyUI/custom_nodes/comfyui-hyperlora/nodes/encode.py", line 7, in <module>
    from .images import save_temp_previews
ImportError: cannot import name 'save_temp_previews'

Cannot import /opt/ComfyUI/custom_nodes/comfyui-hyperlora module for custom nodes: cannot import name
"""

OTHER_PACK = """Traceback (most recent call last):
  File "/opt/ComfyUI/custom_nodes/ComfyUI-HyperLoRA/hyperlora/nodes.py", line 3, in <module>
    import diffusers
ModuleNotFoundError: No module named 'diffusers'
   0.1 seconds (IMPORT FAILED): /opt/ComfyUI/custom_nodes/ComfyUI-HyperLoRA
"""

# At run time: a core node fails while handling an error raised in our engine (chained traceback).
CHAINED_OURS = f"""got prompt
Traceback (most recent call last):
  File "{PACK_ROOT}/hyperlora_core/face/detection.py", line 80, in detect_faces
    raise ValueError("no face")
ValueError: no face

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/opt/ComfyUI/execution.py", line 496, in execute
    output_data = get_output_data(obj, input_data_all)
RuntimeError: execution failed
Prompt executed in 0.1 seconds
"""


def test_other_modules_tracebacks_and_import_failures_do_not_count():
    assert our_log_problems(CORE_AUDIO + OTHER_PACK) == []
    assert len(tracebacks(CORE_AUDIO + OTHER_PACK)) == 2  # they were seen, and judged not ours


def test_our_import_failure_counts_with_its_traceback():
    problems = our_log_problems(CORE_AUDIO + OURS_AT_IMPORT + OTHER_PACK)
    assert len(problems) == 2
    assert "comfyui-hyperlora/nodes/encode.py" in problems[0] and "ImportError" in problems[0]
    assert "nodes_audio" not in problems[0] and "diffusers" not in problems[0]
    assert problems[1].startswith("Cannot import /opt/ComfyUI/custom_nodes/comfyui-hyperlora ")


def test_a_chained_traceback_is_one_problem_and_counts_when_any_part_is_ours():
    (problem,) = our_log_problems(CORE_AUDIO + CHAINED_OURS)
    assert "ValueError: no face" in problem and "RuntimeError: execution failed" in problem
    assert "Prompt executed" not in problem
