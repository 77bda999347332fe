"""The identity library: save an identity once, generate from it without photos, rank images by likeness.
scripts/build_example_workflows.py writes them."""

from __future__ import annotations

from scripts.workflow_builder import (
    FACE_MODEL,
    FILES_NOTE,
    IDENTITY,
    SAMPLER,
    STRENGTH,
    Example,
    Workflow,
    apply_and_generate,
    batch_images,
    face_identity,
    models,
    prompts,
)


def save_identity(wf: Workflow) -> None:
    wf.add("Note", 0, text=FILES_NOTE + f"\n\nRun this once per person: it writes models/hyper_lora/identities/"
           f"{IDENTITY}.safetensors (coefficients, face thumbnail, ArcFace reference). From then on "
           "hyperlora_from_saved_identity needs no photos and no face models. An existing name is never "
           "replaced unless 'overwrite' is on. The image is optional: the identity through Apply.")
    m = models(wf)
    photos = [wf.add("LoadImage", 1, "Photos of one person", title=f"Photo {i}", image=f"face_{i}.jpg")
              for i in (1, 2)]
    batch = batch_images(wf, 1, "Photos of one person", [photo["IMAGE"] for photo in photos])
    coefficients, encode = face_identity(wf, 2, "Identity", m, batch)
    wf.add("PreviewImage", 2, "Identity", title="Face crops", images=encode["face_crops"])
    wf.add("HyperLoRASaveIdentity", 2, "Identity", coefficients=coefficients["coefficients"], name=IDENTITY)
    apply_and_generate(wf, 2, m, coefficients["coefficients"], "portrait photo of a person, natural light, "
                       "detailed skin, sharp focus",
                       "save_identity")


def from_saved_identity(wf: Workflow) -> None:
    wf.add("Note", 0, text=FILES_NOTE + f"\n\nUses an identity saved with HyperLoRA Save Identity "
           f"({IDENTITY}.safetensors): no photos, no CLIP vision, no face models. Pick it in Load Identity (the "
           "face under the list shows who it is); it must be used with the checkpoint that saved it.")
    m = models(wf, face_models=False)
    loaded = wf.add("HyperLoRALoadIdentity", 1, "Identity", hyperlora=m["hyperlora"]["hyperlora"],
                    identity=f"{IDENTITY}.safetensors")
    apply_and_generate(wf, 1, m, loaded["coefficients"], "photo of a person hiking in the mountains, "
                       "morning light, detailed skin, sharp focus",
                       "from_saved_identity")


def rank_by_likeness(wf: Workflow) -> None:
    wf.add("Note", 0, text=FILES_NOTE + "\n\nGenerates four images of the saved identity and ranks them by "
           "likeness: the ArcFace cosine ('ID similarity' in papers) to the reference. Roughly: above 0.5 "
           "clearly the same person, below 0.2 someone else. The best image is saved, all four are previewed "
           "with their scores.")
    m = models(wf, face_models=False)
    analyzer = wf.add("HyperLoRAFaceAnalyzerLoader", 0, "Models", face_model=FACE_MODEL)
    loaded = wf.add("HyperLoRALoadIdentity", 1, "Identity", hyperlora=m["hyperlora"]["hyperlora"],
                    identity=f"{IDENTITY}.safetensors")
    identity = wf.add("HyperLoRAApply", 1, "Identity", model=m["sdxl"]["MODEL"],
                      coefficients=loaded["coefficients"], id_strength=STRENGTH, base_strength=0.0)
    positive, negative = prompts(wf, 2, m["sdxl"]["CLIP"], "portrait photo of a person reading in a library, "
                                 "warm light, detailed skin, sharp focus")
    latent = wf.add("EmptyLatentImage", 3, "Generate four", width=1024, height=1024, batch_size=4)
    sampler = wf.add("KSampler", 3, "Generate four", model=identity["model"], positive=positive["CONDITIONING"],
                     negative=negative["CONDITIONING"], latent_image=latent["LATENT"], seed=42,
                     control_after_generate="randomize", denoise=1.0, **SAMPLER)
    decoded = wf.add("VAEDecode", 3, "Generate four", samples=sampler["LATENT"], vae=m["sdxl"]["VAE"])
    likeness = wf.add("HyperLoRALikeness", 4, "Rank by likeness", images=decoded["IMAGE"],
                      face_analyzer=analyzer["face_analyzer"], coefficients=loaded["coefficients"], top_k=1)
    wf.add("PreviewImage", 4, "Rank by likeness", title="All four, with their scores", images=likeness["preview"])
    wf.add("SaveImage", 5, "Rank by likeness", title="The most alike", images=likeness["ranked"],
           filename_prefix="hyperlora/rank_by_likeness")


LIBRARY_EXAMPLES = (
    Example("hyperlora_save_identity", "Saves an identity from photos once, into the identity library.",
            "Load Image ×2 → Batch Images → HyperLoRA Encode Face → HyperLoRA Predict Coefficients → HyperLoRA "
            "Save Identity (and → HyperLoRA Apply → KSampler)", save_identity),
    Example("hyperlora_from_saved_identity", "Generates from a saved identity: no photos, no face models.",
            "HyperLoRA Load Identity → HyperLoRA Apply → KSampler", from_saved_identity),
    Example("hyperlora_rank_by_likeness", "Four images of a saved identity, ranked by ArcFace likeness; the "
            "best one is saved.", "HyperLoRA Load Identity → HyperLoRA Apply → KSampler (batch of 4) → VAE "
            "Decode → HyperLoRA Likeness → Save Image (best) + Preview Image (scores)", rank_by_likeness),
)
