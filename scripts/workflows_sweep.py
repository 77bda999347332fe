"""The strength sweep: one identity at several strengths in one batch with the same noise, each image scored by
likeness. A family of its own (one entry); scripts/build_example_workflows.py writes it."""

from __future__ import annotations

from scripts.workflow_builder import (
    FACE_MODEL,
    FILES_NOTE,
    IDENTITY,
    SAMPLER,
    STRENGTH,
    Example,
    Workflow,
    models,
    prompts,
)

SWEEP = "0.6, 0.8, 1.0"


def strength_sweep(wf: Workflow) -> None:
    wf.add("Note", 0, text=FILES_NOTE + f"\n\nRenders the saved identity ({IDENTITY}.safetensors) at {SWEEP} in one "
           "batch. Repeat Latent (same noise) gives every image the seed's noise of one image, so the images differ "
           "only in the identity's strength (each equals a separate run at its strength with the same seed). Change "
           "the list in Repeat Latent: its strengths output feeds Apply to Conditioning, one strength per image. "
           "Likeness writes each image's ArcFace score on it: pick the lowest strength that still looks like the "
           "person.")
    m = models(wf, face_models=False)
    analyzer = wf.add("HyperLoRAFaceAnalyzerLoader", 0, "Models", face_model=FACE_MODEL)
    loaded = wf.add("HyperLoRALoadIdentity", 1, "Identity", hyperlora=m["hyperlora"]["hyperlora"],
                    identity=f"{IDENTITY}.safetensors")
    positive, negative = prompts(wf, 1, m["sdxl"]["CLIP"], "portrait photo of a person in a cafe, window light, "
                                 "detailed skin, sharp focus")
    latent = wf.add("EmptyLatentImage", 2, "Sweep", width=1024, height=1024, batch_size=1)
    repeated = wf.add("HyperLoRARepeatLatent", 2, "Sweep", latent=latent["LATENT"], strengths=SWEEP)
    placed = wf.add("HyperLoRAApplyConditioning", 2, "Sweep", model=m["sdxl"]["MODEL"],
                    positive=positive["CONDITIONING"], negative=negative["CONDITIONING"],
                    coefficients=loaded["coefficients"], strength=STRENGTH, strengths=repeated["strengths"])
    sampler = wf.add("KSampler", 3, "Generate", model=placed["model"], positive=placed["positive"],
                     negative=placed["negative"], latent_image=repeated["latent"], seed=42,
                     control_after_generate="fixed", denoise=1.0, **SAMPLER)
    decoded = wf.add("VAEDecode", 3, "Generate", samples=sampler["LATENT"], vae=m["sdxl"]["VAE"])
    likeness = wf.add("HyperLoRALikeness", 4, "Scores", images=decoded["IMAGE"],
                      face_analyzer=analyzer["face_analyzer"], coefficients=loaded["coefficients"], top_k=0)
    wf.add("PreviewImage", 4, "Scores", title=f"{SWEEP.replace(', ', ' / ')}, with their likeness",
           images=likeness["preview"])
    wf.add("SaveImage", 5, "Scores", title="The sweep", images=decoded["IMAGE"],
           filename_prefix="hyperlora/strength_sweep")


SWEEP_EXAMPLES = (
    Example("hyperlora_strength_sweep", "A saved identity at strengths 0.6, 0.8 and 1.0 in one batch with the same "
            "seed and noise, each image's likeness written on it.", "HyperLoRA Load Identity → HyperLoRA Repeat "
            "Latent (same noise) → HyperLoRA Apply to Conditioning (strengths) → KSampler (batch of 3) → VAE Decode "
            "→ HyperLoRA Likeness → Preview Image (scores)", strength_sweep),
)
