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
    # ---- identity runtime: dtypes, devices, clipped fades, areas, lost identities (issues 24, 25, 29)
    m("nodes/identity_runtime.py", "stack_factors([placed.factors.to(device, dtype) for placed in self.identities])",
      "stack_factors([placed.factors.to(device, torch.float32) for placed in self.identities])",
      "tests/test_identity_runtime.py", "dtype not followed: stacked factors stay float32 on an fp16/bf16 model"),
    m("nodes/identity_runtime.py", "self._on_device = {**self._on_device, key: stacked}",
      "self._on_device = {key: stacked}", "tests/test_identity_runtime.py",
      "per-device cache dropped: one device's factors evict another's"),
    m("nodes/identity_runtime.py", "            with self._lock:  # another device's thread may be building its own copy",
      "            if True:", "tests/test_identity_runtime.py", "lock dropped: two threads build the same factors"),
    m("hyperlora_core/engine/schedule.py",
      "fade_in, fade_out = min(fade_in, end - start), min(fade_out, end - start)",
      "fade_in, fade_out = fade_in, fade_out", "tests/test_nodes_control.py",
      "clip missing: a fade longer than the window ramps from before start_at"),
    m("nodes/conditioning.py", 'PLACED = ("mask", "area", IDENTITY_TAG)', 'PLACED = ("mask", IDENTITY_TAG)',
      "tests/test_nodes_control.py", "area ignored: a cond limited to an area is taken for the scene"),
    m("nodes/identity_runtime.py", "        if _STEP.get() is None:", "        if False:",
      "tests/test_nodes_control.py", "a model without the identity samples our conds in silence"),
    m("nodes/identity_runtime.py", "    if COMPILE_KEYS[0] in wrappers or COMPILE_KEYS[1] in model_options:",
      "    if False:", "tests/test_identity_runtime.py", "TorchCompileModel no longer refused"),
    # ---- per-image strengths (issue 27)
    m("nodes/conditioning.py", "image_strengths=image_strengths, region=",
      "region=", "tests/test_nodes_control.py", "strength list ignored: every image gets 1.0"),
    m("nodes/identity_runtime.py", "return tuple(strength * s for s in self.image_strengths)",
      "return tuple(strength * s for s in reversed(self.image_strengths))", "tests/test_identity_runtime.py",
      "per-image strengths given to the wrong images"),
    m("nodes/identity_runtime.py", "                strength = torch.tensor(strength)",
      "                strength = torch.tensor(strength).mean()", "tests/test_identity_runtime.py",
      "per-image strengths averaged over the batch's rows"),
    m("nodes/identity_runtime.py", "        if count != batch:", "        if False:", "tests/test_identity_runtime.py",
      "a strength list that fits no latent batch no longer named before sampling"),
    # ---- Repeat Latent (same noise), the latent of a strength sweep (issue 27)
    m("nodes/repeat_latent.py", 'out["batch_index"] = [index] * count',
      'out["batch_index"] = list(range(index, index + count))', "tests/test_repeat_latent.py",
      "the copies numbered as core's Repeat Latent Batch does: each gets other noise"),
    m("nodes/repeat_latent.py", "    if samples.shape[0] != 1:", "    if False:", "tests/test_repeat_latent.py",
      "a latent of several images repeated instead of refused"),
    m("nodes/repeat_latent.py", "    if mask is not None and mask.shape[0] == 1:", "    if False:",
      "tests/test_repeat_latent.py", "a noise mask of one image not repeated with the copies"),
    m("nodes/repeat_latent.py", "    if not values:", "    if False:", "tests/test_repeat_latent.py",
      "an empty strength list gives an empty latent instead of a message"),
    m("nodes/conditioning.py", "check_mask(mask, coefficients.label) if", "check_mask(mask) if",
      "tests/test_nodes_control.py", "the empty-mask warning does not name the identity"),
    m("nodes/conditioning.py", "    elif empty:", "    elif False:", "tests/test_nodes_control.py",
      "a mask empty in some images of a batch passes in silence"),
    m("nodes/identity_runtime.py", "    if needed > free:", "    if False:", "tests/test_nodes_control.py",
      "more identities than the GPU's free memory holds pass in silence"),
    m("nodes/identity_runtime.py", "for t in (*placed.factors.up.values(), *placed.factors.down.values()))",
      "for t in placed.factors.up.values())", "tests/test_nodes_control.py",
      "the memory estimate leaves out the down factors"),
    m("nodes/identity_runtime.py", 'if device is None or torch.device(device).type == "cpu" or dynamic_vram():',
      "if device is None or dynamic_vram():", "tests/test_nodes_control.py",
      "the memory warning fires on the CPU, where RAM is no concern"),
    # ---- one pass regions (issue 27)
    m("nodes/identity_runtime.py", "masks[index, j * chunk + image] = fitted[image % region.shape[0], 0]",
      "masks[index, j * chunk + image] = 1.0", "tests/test_identity_runtime.py",
      "one pass ignores the mask: the identity on the whole image"),
    m("nodes/identity_runtime.py", "if masked is not None and not name.endswith(TEXT_SIDE) and x.ndim == 3:",
      "if masked is not None and x.ndim == 3:", "tests/test_identity_runtime.py",
      "one pass masks the prompt's tokens as if they were image positions"),
    m("nodes/identity_runtime.py", "            placed._warned.add(size)\n            logger.warning(",
      "            placed._warned.add(size)\n            logger.debug(", "tests/test_identity_runtime.py",
      "a mask empty at an attention resolution passes in silence"),
    m("nodes/identity_runtime.py", "    if count > batch or batch % count:", "    if count > batch:",
      "tests/test_identity_runtime.py", "a mask batch the latent batch is no multiple of accepted"),
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
    # ---- API values, workflows and files (issue 25)
    m("nodes/v3.py", "        if not isinstance(value, bool):", "        if not isinstance(value, (bool, str)):",
      "tests/test_api_values.py tests/test_identity_library.py", "a BOOLEAN accepts a truthy text such as 'false'"),
    m("nodes/api_prompt.py", "not isinstance(value, (bool, list)):", "not isinstance(value, (bool, list, str)):",
      "tests/test_api_values.py", "the prompt handler lets a text BOOLEAN reach ComfyUI's bool()"),
    m("nodes/v3.py", "        if not (isinstance(value, str) and value in list(choices)):",
      "        if value is not None and value not in list(choices):", "tests/test_api_values.py",
      "the dropdown check skips null (and looks a dict up in a table)"),
    m("nodes/v3.py", "    if isinstance(value, ApiValue):\n        return value.message\n", "",
      "tests/test_api_values.py", "a null file dropdown from the API is taken for a link at queue time"),
    m("nodes/v3.py", "    if isinstance(value, str) and not isinstance(value, ApiValue):", "    if True:",
      "tests/test_api_values.py", "a file dropdown takes null, numbers or dicts when the node runs"),
    m("hyperlora_core/validate.py", "    if len(text) <= limit:", "    if True:", "tests/test_api_values.py",
      "huge values echoed in full in messages"),
    m("hyperlora_core/workflows/graph.py", "        _follow_link_ids(out, renumbered)\n", "",
      "tests/test_workflow_upgrade.py", "native reroutes keep the old link ids after renumbering"),
    m("hyperlora_core/workflows/graph.py", "**copy.deepcopy(extras.get(link[0], {}))", "**{}",
      "tests/test_workflow_upgrade.py", "schema 1 links lose their reroute (parentId)"),
    m("hyperlora_core/workflows/graph.py", "if link[\"id\"] in self.links and self.links[link[\"id\"]] != link:",
      "if False:", "tests/test_workflow_upgrade.py", "two different links with one id accepted"),
    m("hyperlora_core/workflows/convert.py", "        self.report.upgraded += upgrade_subgraphs(workflow)", "        pass",
      "tests/test_workflow_upgrade.py", "old nodes inside subgraphs not upgraded"),
    m("hyperlora_core/validate.py", "    text = text.removeprefix(\"\\ufeff\")", "    text = text",
      "tests/test_workflow_convert.py", "a workflow starting with a UTF-8 BOM refused"),
    m("nodes/identity.py", "    name = (existing or spellings(name))[0]", "    name = (existing or [name])[0]", "tests/test_identity_library.py",
      "identity names saved as typed (NFD and NFC become two files)"),
    m("hyperlora_core/library/identity_file.py", "        remove_empty_folders(created)", "        pass",
      "tests/test_identity_library.py", "a failed identity save leaves the sub-folder it made"),
    m("nodes/save.py", "            remove_empty_folders(created)", "            pass", "tests/test_nodes_export.py",
      "a failed export leaves the sub-folder it made"),
    m("hyperlora_core/face/analyzer.py", "    _check_arcface_shape(folder / RECOGNITION, recognizer)\n", "",
      "tests/test_face_setup.py", "an ArcFace model of another input size accepted"),
    m("hyperlora_core/cli/check.py", "    if not models.is_dir():", "    if False:", "tests/test_cli.py",
      "check lists every model as missing for a folder that does not exist"),
    m("nodes/identity_route.py", "        identity_relative_path(name)  #", "        str(name)  #",
      "tests/test_identity_library.py", "the thumbnail route answers 404 for a malformed name"),
    # ---- every input matters (issue 29)
    m("nodes/mix.py", "beta = hl.mix_coefficients([(c.beta, w) for c, w in weighted])",
      "beta = hl.mix_coefficients([(c.beta, 1.0) for c, w in weighted])", "tests/test_nodes_pipeline.py",
      "Mix Identities blends beta equally whatever the weights"),
    m("nodes/save.py", "lora_metadata(coefficients.hyperlora.name, key_style, base_strength, recommended_strength)",
      "lora_metadata(coefficients.hyperlora.name, key_style, base_strength, 0.8)",
      "tests/test_every_input_matters.py", "Export ignores recommended_strength"),
    m("nodes/encode.py", "face_analyzer, remove_background=remove_background, grayscale=grayscale,",
      "face_analyzer, remove_background=remove_background, grayscale=False,", "tests/test_every_input_matters.py",
      "Encode Face ignores grayscale"),
    m("nodes/likeness.py", "measure(images, face_analyzer, reference, top_k)",
      "measure(images, face_analyzer, reference, 0)", "tests/test_every_input_matters.py",
      "Likeness ignores top_k"),
    m("nodes/hooks.py", "identity_hook_group(coefficients, finite(strength, \"strength\"), hook_kf, prev_hooks)",
      "identity_hook_group(coefficients, 0.8, hook_kf, prev_hooks)", "tests/test_every_input_matters.py",
      "Identity Hook ignores its strength"),
    # ---- the face code
    m("hyperlora_core/face/likeness.py", "order = sorted(range(len(results)), key=lambda i: -results[i].score)",
      "order = sorted(range(len(results)), key=lambda i: results[i].score)", "tests/test_likeness.py",
      "ranking least alike first"),
    m("hyperlora_core/face/detection.py", "return max(faces, key=lambda face: face.score)",
      "return faces[0]", "tests/test_face_detection.py", "face_selection score takes the first face"),
    # ---- ComfyUI releases (issue 24): the frontend's widget rules, deprecated nodes, unsupported cores, templates
    m("tests/workflow_validation.py", "        return name in SEED_NAMES", "        return False",
      "tests/test_workflows_per_release.py", "the frontend's seed rule forgotten: Train LoRA's seed without its control"),
    m("tests/workflow_validation.py", '        if schemas[kind].get("deprecated"):', "        if False:",
      "tests/test_workflows_per_release.py", "a node the release marks deprecated passes"),
    m("comfyui_support.py", "    return [what for module, path, what in needs if not _has(module, path, import_module)]",
      "    return []", "tests/test_comfyui_support.py", "a core without a needed wrapper is taken as supported"),
    m("nodes/templates_route.py", '        elif f"{name}_comfyui-{series}" not in names:', "        else:",
      "tests/test_templates_route.py", "the template browser lists a plain file beside its variant for the release"),
    m("nodes/templates_route.py", "    templates[pack] = titled(templates[pack], release)",
      "    templates[pack] = listed(templates[pack], release)", "tests/test_templates_route.py",
      "the template browser shows file names instead of titles"),
    m("nodes/templates_route.py", "if title(name) == shown and name != shown", "if name == shown",
      "tests/test_templates_route.py", "a listed title leads to no file"),
    # ---- the first hour (issue 26)
    m("nodes/encode.py", "    if skipped:\n", "    if False:\n", "tests/test_nodes_pipeline.py",
      "Encode Face's text leaves out the photos it skipped"),
    m("hyperlora_core/cli/likeness.py", "    for path in args.images:\n        require_file(", "    for path in []:\n"
      "        require_file(", "tests/test_likeness_cli.py", "likeness no longer refuses a folder given as an image"),
    m("hyperlora_core/setup/check.py", "    if path.name != WORKFLOW_CLIP_FILE:", "    if False:",
      "tests/test_setup_check.py", "check no longer names the workflows' CLIP file for a differently named one"),
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
    m("hyperlora_core/face/clip.py", "drop_last_layer(model) if drop_unused_layer else False",
      "drop_last_layer(model)", "tests/test_face_clip.py",
      "a model the caller keeps for other uses loses its last layer anyway"),
    m("hyperlora_core/face/conditioning.py", "                analyzer, (digest, feature_cache.array_digest(face.bbox, face.kps, face.landmarks)),",
      "                analyzer, (digest,),", "tests/test_face_cache.py",
      "another face of the same photo gets the first face's embedding"),
    m("hyperlora_core/face/conditioning.py", "        digest = feature_cache.image_digest(image)",
      "        digest = str(id(image))", "tests/test_face_cache.py", "features kept by image object, not pixels"),
    m("hyperlora_core/face/feature_cache.py", "            if item is None or item[0]() is not owner:",
      "            if item is None:", "tests/test_face_cache.py", "a replaced model answers with its predecessor's features"),
    m("hyperlora_core/engine/model.py", "        return self._remembered((\"id\", arcface, y, fusion), run)",
      "        return self._remembered((\"id\", arcface, y), run)", "tests/test_core_math.py",
      "remembered coefficients ignore the image weights"),
    # ---- several identities in one batch (issue 27): one pass identities covering their whole image
    m("nodes/identity_runtime.py", "            elif masked is not None:  # prompt tokens",
      "            elif False:  # prompt tokens", "tests/test_identity_runtime.py",
      "one pass: an identity covering its whole image leaves the prompt side plain (not Apply's math)"),
    m("nodes/identity_runtime.py", "return self.strengths * (self.masks.flatten(2).amin(dim=2) >= 1.0)",
      "return self.strengths * (self.masks.flatten(2).amax(dim=2) >= 1.0)", "tests/test_identity_runtime.py",
      "one pass: a partly masked identity changes the prompt side of the whole image"),
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
