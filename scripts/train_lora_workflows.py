"""The Train LoRA family of example workflows: export an identity LoRA where core Train LoRA finds it,
then continue training it. scripts/build_example_workflows.py writes them.

Core changed these nodes between releases (SaveLoRANode -> SaveLoRA; Train LoRA's widgets and
outputs, again in 0.33), so the refine workflow is built from each release's own schemas: the plain file
for the newest release, a `..._comfyui-<series>` variant for each older series (build_example_workflows). The export workflow writes exactly TRAINER_LORA, the
file the refine workflow continues, so queued in that order they run without editing a widget.
"""

from __future__ import annotations

from scripts.workflow_builder import (
    CLIP_VIT_L,
    FACE_MODEL,
    FILES_NOTE,
    HYPERLORA,
    IDENTITY,
    SDXL,
    STRENGTH,
    batch_images,
    face_identity,
    generate,
    prompts,
)

EXPORT_PREFIX = f"hyperlora/{IDENTITY}"  # Export LoRA (comfy_trainer, loras) adds "_0_steps_00001_"
TRAINER_LORA = f"{EXPORT_PREFIX}_0_steps_00001_.safetensors"
REFINE = "hyperlora_refine_with_train_lora"


def export_for_train_lora(wf) -> None:
    wf.add("Note", 0, text=FILES_NOTE + f"\n\nStep 1 of 2: exports the identity of the photos as "
           f"models/loras/{TRAINER_LORA} (key_style comfy_trainer, destination loras), the file {REFINE} "
           "continues. Queue it once, then open the refine workflow: its Train LoRA already picks this file. "
           "Queued again, it writes _00002_ and so on; pick that one in Train LoRA's existing_lora.")
    m = {"hyperlora": wf.add("HyperLoRACheckpointLoader", 0, "Models", checkpoint=HYPERLORA),
         "clip_vision": wf.add("CLIPVisionLoader", 0, "Models", clip_name=CLIP_VIT_L),
         "face_analyzer": wf.add("HyperLoRAFaceAnalyzerLoader", 0, "Models", face_model=FACE_MODEL)}
    photos = [wf.add("LoadImage", 1, "Reference photos", title=f"Photo {i}", image=f"face_{i}.jpg") for i in (1, 2)]
    batch = batch_images(wf, 1, "Reference photos", [photo["IMAGE"] for photo in photos])
    coefficients, _ = face_identity(wf, 2, "Identity", m, batch)
    wf.add("HyperLoRAExportLoRA", 2, "Identity", coefficients=coefficients["coefficients"],
           filename_prefix=EXPORT_PREFIX, key_style="comfy_trainer", recommended_strength=STRENGTH,
           destination="loras")


def refine_with_train_lora(wf) -> None:
    wf.add("Note", 0, text=FILES_NOTE + f"\n\nStep 2 of 2: first queue hyperlora_export_for_train_lora, which "
           f"writes models/loras/{TRAINER_LORA}. This core Train LoRA graph continues from it on the same reference "
           "photos (a short fine-tune lifts likeness further) and saves the result into ComfyUI/output/loras. Use "
           "photos of one size; keep the steps low (50-200) so the LoRA stays editable.")
    sdxl = wf.add("CheckpointLoaderSimple", 0, "Models", ckpt_name=SDXL)
    photos = [wf.add("LoadImage", 1, "Reference photos", title=f"Photo {i}", image=f"face_{i}.jpg") for i in (1, 2)]
    batch = batch_images(wf, 1, "Reference photos", [photo["IMAGE"] for photo in photos])
    latents = wf.add("VAEEncode", 1, "Reference photos", pixels=batch, vae=sdxl["VAE"])
    positive, negative = prompts(wf, 2, sdxl["CLIP"], "photo of a person")
    train = wf.add("TrainLoraNode", 3, "Fine-tune", model=sdxl["MODEL"], latents=latents["LATENT"],
                   positive=positive["CONDITIONING"], steps=100, learning_rate=0.0001, existing_lora=TRAINER_LORA)
    save = "SaveLoRA" if "SaveLoRA" in wf.schemas else "SaveLoRANode"  # renamed in ComfyUI 0.4-0.14
    wf.add(save, 3, "Fine-tune", lora=train["lora"], prefix=f"loras/{IDENTITY}_refined", steps=train["steps"])
    if "model_with_lora" in wf.schemas["TrainLoraNode"]["output_name"]:  # ComfyUI 0.3.x
        model = train["model_with_lora"]
    else:  # newer Train LoRA returns the LoRA only: core Load LoRA Model applies it
        model = wf.add("LoraModelLoader", 3, "Fine-tune", model=sdxl["MODEL"], lora=train["lora"],
                       strength_model=1.0)["model"]
    generate(wf, 4, model, positive["CONDITIONING"], negative["CONDITIONING"], sdxl["VAE"], "refined")


# (name, summary, graph, build) for build_example_workflows.Example
TRAIN_LORA_EXAMPLES = (
    ("hyperlora_export_for_train_lora",
     ("Step 1 of the refine chain: exports the identity of two photos as the LoRA file the refine workflow "
      "continues."),
     ("Load Image ×2 → Batch Images → HyperLoRA Encode Face → HyperLoRA Predict Coefficients → HyperLoRA "
      f"Export LoRA (comfy_trainer, loras: {TRAINER_LORA})"),
     export_for_train_lora),
    (REFINE, "Step 2: continues training the exported identity LoRA with core Train LoRA on the reference photos.",
     ("Load Image ×2 → VAE Encode → Train LoRA (existing_lora: the exported LoRA) → Save LoRA Weights (and → "
      "KSampler; through Load LoRA Model where Train LoRA returns the LoRA only)"),
     refine_with_train_lora),
)
