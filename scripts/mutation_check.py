"""Plants one small bug at a time in the engine, the nodes and the face code, and runs the tests that
should notice it. Run on demand (minutes, not in CI); docs/mutation-testing.md records the last run.

    python scripts/mutation_check.py            # every mutant
    python scripts/mutation_check.py 3 7        # only mutants 3 and 7
    python scripts/mutation_check.py --list

Each mutant is one textual change to one file (it must match exactly once, so a mutant that no longer
applies after a refactoring is reported, not skipped). The file is always restored, also on Ctrl-C.
A mutant is *killed* when its tests fail, and *survives* when they pass: then either a test is missing
or the change is harmless (say why in docs/mutation-testing.md). A curated list of the bugs a careless
edit plausibly makes, each with its relevant tests, runs in about 2 minutes on 2 cores; an operator-level
tool (mutmut) was not tried here (docs/mutation-testing.md).
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    what: str


def m(path, old, new, tests, what):
    return Mutant(path, old, new, tuple(tests.split()), what)


MUTANTS = [
    # ---- the six bugs of issue 18
    m("nodes/apply.py", "and last[0][1] == digest:", ":", "tests/test_nodes_pipeline.py",
      "Apply Face's cache ignores the photo's digest"),
    m("nodes/predict.py", "return [weights[i] for i in conditioning.kept]", "return weights[:len(conditioning.kept)]",
      "tests/test_nodes_no_face.py tests/test_nodes_pipeline.py", "per-photo weights not taken by kept index"),
    m("hyperlora_core/face/identity.py", "candidates[int(np.argmax(overlaps))]", "candidates[0]",
      "tests/test_face_detection.py tests/test_likeness.py", "best-overlap face replaced by the first candidate"),
    m("hyperlora_core/engine/lora.py", "up, down, alpha = factors.up[key], factors.down[key], factors.alpha",
      "up, down, alpha = factors.up[key], factors.down[key], 1.0",
      "tests/test_lora_file.py tests/test_nodes_export.py tests/test_core_math.py",
      "single LoRA fast path ignores its alpha"),
    m("hyperlora_core/engine/lora.py", "single = len(weighted) == 1 and weighted[0][1] == 1.0",
      "single = len(weighted) == 1", "tests/test_lora_file.py tests/test_nodes_export.py tests/test_core_math.py",
      "single-entry fast path ignores its strength"),
    m("hyperlora_core/library/identity_file.py", "    if tuple(identity.alpha.shape) != tuple(shape):",
      "    if False:", "tests/test_identity_library.py", "check_checkpoint's shape check removed"),
    m("nodes/conditioning.py", "return mask.float().clamp(0.0, 1.0)", "return mask.float()",
      "tests/test_nodes_control.py", "check_mask no longer clamps to 0..1"),
    # ---- scheduled and regional identities (issue 16)
    m("nodes/identity_runtime.py", "rows[index, j * chunk:(j + 1) * chunk] = strength", "rows[index, :] = strength",
      "tests/test_identity_runtime.py", "an identity's strength put on every row of the call, not its cond's rows"),
    m("nodes/identity_runtime.py", "return self.strength * strength_at_sigma(sigma, thresholds)",
      "return self.strength", "tests/test_identity_runtime.py", "fades ignored: the strength is constant"),
    m("nodes/identity_runtime.py", "identities = IdentitySet((previous.identities if previous else ()) + (placed,))",
      "identities = IdentitySet((placed,))", "tests/test_nodes_control.py tests/test_identity_runtime.py",
      "chaining drops the identities already on the model"),
    m("hyperlora_core/engine/schedule.py", "        if start_sigma >= sigma:", "        if start_sigma > sigma:",
      "tests/test_identity_runtime.py", "a keyframe reached exactly at its sigma is not taken"),
    m("hyperlora_core/workflows/upgrade.py", "for node_id in _nearest_sampler_first(reached):",
      "for node_id in reversed(_nearest_sampler_first(reached)):", "tests/test_workflow_upgrade.py",
      "chained old nodes routed from the checkpoint forwards"),
    # ---- the engine
    m("hyperlora_core/engine/model.py", "        fusion = self._fusion_weights(weights, arcface.shape[0])",
      "        fusion = None", "tests/test_core_math.py tests/test_nodes_pipeline.py",
      "image weights ignored in ID fusion"),
    m("hyperlora_core/engine/model.py", "return LoraFactors({k: up[k] for k in order}, {k: down[k] for k in order}, bank.rank / 2,",
      "return LoraFactors({k: up[k] for k in order}, {k: down[k] for k in order}, bank.rank,",
      "tests/test_core_math.py", "LoRA alpha r instead of r/2"),
    m("hyperlora_core/engine/basis.py", "index = [8 * i + 2 * PROJECTIONS.index(proj) + (role == \"up\") for i, proj, role in slots]",
      "index = [8 * i + 2 * PROJECTIONS.index(proj) + (role == \"down\") for i, proj, role in slots]",
      "tests/test_core_math.py", "up and down tokens swapped"),
    m("hyperlora_core/engine/combine_gpu.py", "return max(largest_slot, min(largest_group, cap_bytes // element_size))",
      "return min(largest_group, cap_bytes // element_size)", "tests/test_core_combine.py",
      "streaming workspace may be smaller than one slot"),
    m("hyperlora_core/engine/combine_gpu.py", "    results = sum(g * n for g, _, n in shapes) * (element_size + 4)",
      "    results = sum(g * n for g, _, n in shapes) * element_size", "tests/test_core_combine.py tests/test_nodes_memory.py",
      "streaming_bytes forgets the float32 results"),
    m("hyperlora_core/engine/checkpoint.py", "        if inner == RELEASED_SPLIT[0] * RELEASED_SPLIT[1]:\n            return RELEASED_SPLIT",
      "        return RELEASED_SPLIT", "tests/test_core_config.py tests/test_core_errors.py",
      "any attention width silently split 12 x 64"),
    m("hyperlora_core/engine/fusion.py", "return [(lora_b, strength), (lora_a, -strength)]",
      "return [(lora_b, strength), (lora_a, strength)]", "tests/test_core_math.py tests/test_nodes_control.py",
      "slider adds A instead of subtracting it"),
    m("hyperlora_core/library/identity_file.py", "    if identity.fingerprint != fingerprint:", "    if False:",
      "tests/test_identity_library.py", "identity of another checkpoint accepted"),
    # ---- the nodes
    m("nodes/memory.py", "    return gpu if free_bytes >= streaming_bytes + HEADROOM else torch.device(\"cpu\")",
      "    return gpu if free_bytes >= streaming_bytes else torch.device(\"cpu\")", "tests/test_nodes_memory.py",
      "auto forgets the headroom"),
    m("nodes/memory.py", "compute_plan(self.policy, self.engine.streaming_bytes())",
      "compute_plan(self.policy, self.engine.basis_bytes())", "tests/test_nodes_memory.py",
      "auto asks for all the bases instead of the stream"),
    m("nodes/predict.py", "    last = max(conditioning.kept)\n    if len(weights) <= last:",
      "    last = len(conditioning.kept) - 1\n    if len(weights) <= last:",
      "tests/test_nodes_no_face.py tests/test_nodes_pipeline.py tests/test_hardening_numbers.py",
      "too few image weights accepted after a skipped photo"),
    m("nodes/apply.py", "all(a is b for a, b in zip(last[0][0], models))", "True", "tests/test_nodes_pipeline.py",
      "Apply Face's cache ignores a changed checkpoint or face model"),
    # ---- the face code
    m("hyperlora_core/face/likeness.py", "order = sorted(range(len(results)), key=lambda i: -results[i].score)",
      "order = sorted(range(len(results)), key=lambda i: results[i].score)", "tests/test_likeness.py",
      "ranking least alike first"),
    m("hyperlora_core/face/detection.py", "return max(faces, key=lambda face: face.score)",
      "return faces[0]", "tests/test_face_detection.py", "face_selection score takes the first face"),
    # ---- the CPU path choice and the tiled layout
    m("hyperlora_core/engine/combine_cpu.py", "    return max(PLAN_SLICE_BYTES, CACHE_MULTIPLE * cache)",
      "    return PLAN_SLICE_BYTES", "tests/test_core_combine.py", "planning slices ignore the cache size"),
    m("hyperlora_core/engine/combine_cpu.py", "        need, pieces = min(slice_bytes, total), []",
      "        need, pieces, group, slot = min(slice_bytes, total), [], 0, 0", "tests/test_core_combine.py",
      "every timed call reads the same (cached) bytes"),
    m("hyperlora_core/engine/combine_cpu.py", "                group, slot = (group + 1) % len(groups), 0",
      "                group, slot = group, 0", "tests/test_core_combine.py",
      "timed samples never leave the first group"),
    m("hyperlora_core/engine/combine_cpu.py", "    best = min(per_byte, key=per_byte.get)",
      "    best = max(per_byte, key=per_byte.get)", "tests/test_core_combine.py", "plan keeps the slowest path"),
    m("hyperlora_core/engine/combine_cpu.py",
      "    return sum(size for (level, _), size in instances.items() if level == top)",
      "    return max(size for (level, _), size in instances.items() if level == top)", "tests/test_core_combine.py",
      "last-level cache counts one instance of several"),
    m("hyperlora_core/engine/basis.py", "out.copy_(basis.view(k, tiles, tile).transpose(0, 1))",
      "out.copy_(basis.view(tiles, k, tile))", "tests/test_core_combine.py", "tiles cut along the wrong axis"),
    m("hyperlora_core/engine/basis.py", "return self.token_index.repeat_interleave(self.tiles)",
      "return self.token_index.repeat(self.tiles)", "tests/test_core_combine.py",
      "tiles get their neighbours' coefficients"),
    # ---- work not redone: face-independent resampler start, features and coefficients kept by content
    m("hyperlora_core/engine/resampler.py", "        if j > 0:\n", "        if True:\n", "tests/test_core_math.py",
      "layer 0's self-attention applied twice"),
    m("hyperlora_core/face/clip.py", "    vision.encoder.layers = layers[:-1]", "    vision.encoder.layers = layers[:-2]",
      "tests/test_face_clip.py tests/test_face_cache.py", "CLIP stops one layer too early"),
    m("hyperlora_core/face/conditioning.py", "                analyzer, (digest, feature_cache.array_digest(face.bbox, face.landmarks)),",
      "                analyzer, (digest,),", "tests/test_face_cache.py",
      "another face of the same photo gets the first face's embedding"),
    m("hyperlora_core/face/conditioning.py", "        digest = feature_cache.image_digest(image)",
      "        digest = str(id(image))", "tests/test_face_cache.py", "features kept by image object, not pixels"),
    m("hyperlora_core/face/feature_cache.py", "            if item is None or item[0]() is not owner:",
      "            if item is None:", "tests/test_face_cache.py", "a replaced model answers with its predecessor's features"),
    m("hyperlora_core/engine/model.py", "        return self._remembered((\"id\", arcface, y, fusion), run)",
      "        return self._remembered((\"id\", arcface, y), run)", "tests/test_core_math.py",
      "remembered coefficients ignore the image weights"),
]


def run(number: int, mutant: Mutant) -> tuple[str, float]:
    path = ROOT / mutant.path
    original = path.read_text(encoding="utf-8")
    if original.count(mutant.old) != 1:
        return "does not apply", 0.0
    started = time.monotonic()
    try:
        path.write_text(original.replace(mutant.old, mutant.new), encoding="utf-8")
        result = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *mutant.tests],
                                check=False, cwd=ROOT, capture_output=True, text=True, timeout=600)
    finally:
        path.write_text(original, encoding="utf-8")
    return ("killed" if result.returncode != 0 else "SURVIVED"), time.monotonic() - started


def main(argv: list[str]) -> int:
    if argv == ["--list"]:
        for number, mutant in enumerate(MUTANTS, 1):
            print(f"{number:3} {mutant.path}: {mutant.what}")
        return 0
    chosen = [int(a) for a in argv] or range(1, len(MUTANTS) + 1)
    counts: dict[str, int] = {}
    for number in chosen:
        mutant = MUTANTS[number - 1]
        outcome, seconds = run(number, mutant)
        counts[outcome] = counts.get(outcome, 0) + 1
        print(f"{number:3} {outcome:14} {seconds:5.1f} s  {mutant.path}: {mutant.what}", flush=True)
    print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    return 1 if counts.get("SURVIVED") or counts.get("does not apply") else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
