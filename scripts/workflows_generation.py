"""Generating with a face: one photo, several photos, ControlNet, concept slider, mixing, saving a LoRA, two
people, a late identity, redrawing a face. scripts/build_example_workflows.py writes them."""

from __future__ import annotations

from scripts.workflow_builder import (
    CONTROLNET,
    FILES_NOTE,
    SAMPLER,
    STRENGTH,
    Example,
    Workflow,
    apply_and_generate,
    batch_images,
    face_identity,
    generate,
    models,
    prompts,
)


def one_photo(wf: Workflow) -> None:
    wf.add("Note", 0, text=FILES_NOTE + "\n\nLoad a clear, frontal photo of one face, then queue.")
    m = models(wf)
    photo = wf.add("LoadImage", 0, "Face photo", image="face.jpg")
    positive, negative = prompts(wf, 1, m["sdxl"]["CLIP"], "portrait photo of a person, upper body, natural "
                                 "light, detailed skin, sharp focus, 85mm")
    identity = wf.add("HyperLoRAApplyFace", 1, "Identity", model=m["sdxl"]["MODEL"],
                      hyperlora=m["hyperlora"]["hyperlora"], clip_vision=m["clip_vision"]["CLIP_VISION"],
                      face_analyzer=m["face_analyzer"]["face_analyzer"], image=photo["IMAGE"], strength=STRENGTH)
    generate(wf, 2, identity["model"], positive["CONDITIONING"], negative["CONDITIONING"], m["sdxl"]["VAE"],
             "one_photo")


def several_photos(wf: Workflow) -> None:
    wf.add("Note", 0, text=FILES_NOTE + "\n\nSeveral photos of the SAME person average out light and pose. "
           "Batch Images resizes every photo to the first one's size (centre crop), so use photos of "
           "similar shape. The crops preview shows what CLIP saw.")
    m = models(wf)
    photos = [wf.add("LoadImage", 1, "Photos of one person", title=f"Photo {i}", image=f"face_{i}.jpg")
              for i in (1, 2, 3)]
    batch = batch_images(wf, 1, "Photos of one person", [photo["IMAGE"] for photo in photos])
    coefficients, encode = face_identity(wf, 2, "Identity", m, batch)
    wf.add("PreviewImage", 2, "Identity", title="Face crops", images=encode["face_crops"])
    apply_and_generate(wf, 2, m, coefficients["coefficients"], "photo of a person sitting in a cafe, soft window "
                       "light, detailed skin, sharp focus",
                       "several_photos")


def controlnet(wf: Workflow) -> None:
    wf.add("Note", 0, text=FILES_NOTE + f"\n- controlnet/{CONTROLNET}  (an SDXL OpenPose or depth ControlNet)"
           "\n\nLoad a pose (or depth) image that matches the ControlNet. The identity comes from the LoRA, "
           "the pose from the ControlNet; lower the ControlNet strength if the face suffers.")
    m = models(wf)
    net = wf.add("ControlNetLoader", 0, "Models", control_net_name=CONTROLNET)
    photo = wf.add("LoadImage", 1, "Face photo", image="face.jpg")
    identity = wf.add("HyperLoRAApplyFace", 1, "Face photo", model=m["sdxl"]["MODEL"],
                      hyperlora=m["hyperlora"]["hyperlora"], clip_vision=m["clip_vision"]["CLIP_VISION"],
                      face_analyzer=m["face_analyzer"]["face_analyzer"], image=photo["IMAGE"], strength=STRENGTH)
    pose = wf.add("LoadImage", 1, "Pose", title="Pose (or depth) image", image="pose.png")
    positive, negative = prompts(wf, 2, m["sdxl"]["CLIP"], "full body photo of a person standing in a park, "
                                 "casual clothes, natural light, sharp focus")
    control = wf.add("ControlNetApplyAdvanced", 2, "Prompt", positive=positive["CONDITIONING"],
                     negative=negative["CONDITIONING"], control_net=net["CONTROL_NET"], image=pose["IMAGE"],
                     strength=0.7, start_percent=0.0, end_percent=0.8)
    generate(wf, 3, identity["model"], control["positive"], control["negative"], m["sdxl"]["VAE"], "controlnet")


def concept_slider(wf: Workflow) -> None:
    wf.add("Note", 0, text=FILES_NOTE + "\n\nThe slider moves the identity from the concept of image A towards "
           "that of image B (e.g. a neutral and a smiling face, young and old). The seed is fixed: change "
           "only the slider strength (-1..1) and compare.")
    m = models(wf)
    photo = wf.add("LoadImage", 1, "Identity", image="face.jpg")
    identity = wf.add("HyperLoRAApplyFace", 1, "Identity", model=m["sdxl"]["MODEL"],
                      hyperlora=m["hyperlora"]["hyperlora"], clip_vision=m["clip_vision"]["CLIP_VISION"],
                      face_analyzer=m["face_analyzer"]["face_analyzer"], image=photo["IMAGE"], strength=STRENGTH)
    image_a = wf.add("LoadImage", 1, "Concept images", title="Image A (from, e.g. neutral)",
                     image="concept_a_neutral.jpg")
    image_b = wf.add("LoadImage", 1, "Concept images", title="Image B (to, e.g. smiling)",
                     image="concept_b_smiling.jpg")
    a, _ = face_identity(wf, 2, "Slider", m, image_a["IMAGE"], " (A)", base_condition=False)
    b, _ = face_identity(wf, 2, "Slider", m, image_b["IMAGE"], " (B)", base_condition=False)
    slider = wf.add("HyperLoRAConceptSlider", 2, "Slider", model=identity["model"],
                    coefficients_a=a["coefficients"], coefficients_b=b["coefficients"], strength=0.5)
    positive, negative = prompts(wf, 3, m["sdxl"]["CLIP"], "close-up portrait photo of a person, natural light, "
                                 "detailed skin, sharp focus")
    generate(wf, 4, slider["model"], positive["CONDITIONING"], negative["CONDITIONING"], m["sdxl"]["VAE"],
             "concept_slider", seed_control="fixed")


def mix_identities(wf: Workflow) -> None:
    wf.add("Note", 0, text=FILES_NOTE + "\n\nWeights are relative: 0.5 and 0.5 is half and half, 0.7 and 0.3 "
           "leans towards person A. Up to four identities can be mixed. The seed is fixed to compare weights.")
    m = models(wf)
    person_a = wf.add("LoadImage", 1, "Two people", title="Person A", image="person_a.jpg")
    person_b = wf.add("LoadImage", 1, "Two people", title="Person B", image="person_b.jpg")
    a, _ = face_identity(wf, 2, "Identity", m, person_a["IMAGE"], " (A)")
    b, _ = face_identity(wf, 2, "Identity", m, person_b["IMAGE"], " (B)")
    mixed = wf.add("HyperLoRAMixIdentities", 2, "Identity", coefficients_1=a["coefficients"], weight_1=0.5,
                   coefficients_2=b["coefficients"], weight_2=0.5)
    apply_and_generate(wf, 2, m, mixed["coefficients"], "portrait photo of a person in a denim jacket, city "
                       "street, golden hour, detailed skin, sharp focus",
                       "mix_identities", seed_control="fixed")


def save_lora(wf: Workflow) -> None:
    wf.add("Note", 0, text=FILES_NOTE + "\n\nExport LoRA writes models/loras/hyperlora_face_00001_.safetensors "
           "(destination loras; 'output' writes into ComfyUI/output instead). Core Load LoRA lists it at once "
           "(strength ~0.8, same trigger words); key_style kohya for kohya sd-scripts, comfy_trainer to continue "
           "training it with core Train LoRA (hyperlora_refine_with_train_lora). The image below is optional: it "
           "shows the same identity through HyperLoRA Apply.")
    m = models(wf)
    photo = wf.add("LoadImage", 1, "Face photo", image="face.jpg")
    coefficients, _ = face_identity(wf, 2, "Identity", m, photo["IMAGE"])
    wf.add("HyperLoRAExportLoRA", 2, "Identity", coefficients=coefficients["coefficients"],
           filename_prefix="loras/hyperlora_face", recommended_strength=STRENGTH, destination="loras")
    apply_and_generate(wf, 2, m, coefficients["coefficients"], "portrait photo of a person wearing a suit, studio "
                       "lighting, detailed skin, sharp focus",
                       "save_lora")


def two_people(wf: Workflow) -> None:
    wf.add("Note", 0, text=FILES_NOTE + "\n\nTwo people in one image: person A's identity only in the left half, "
           "B's only in the right half; the prompt draws the scene and everything outside both masks. Model, "
           "positive and negative go through both Apply to Conditioning nodes to the KSampler; the people and "
           "the background share one batched model pass per step. Masks are 1024 x 1024 like the latent; draw "
           "your own (or use HyperLoRA Face Mask on a layout image) for other compositions.")
    m = models(wf)
    person_a = wf.add("LoadImage", 1, "Two people", title="Person A (left)", image="person_a.jpg")
    person_b = wf.add("LoadImage", 1, "Two people", title="Person B (right)", image="person_b.jpg")
    a, _ = face_identity(wf, 2, "Identities", m, person_a["IMAGE"], " (A)")
    b, _ = face_identity(wf, 2, "Identities", m, person_b["IMAGE"], " (B)")
    empty = wf.add("SolidMask", 3, "Masks", title="Empty 1024 x 1024", value=0.0, width=1024, height=1024)
    half = wf.add("SolidMask", 3, "Masks", title="Half (512 x 1024)", value=1.0, width=512, height=1024)
    left = wf.add("MaskComposite", 3, "Masks", title="Left half", destination=empty["MASK"], source=half["MASK"],
                  x=0, y=0, operation="add")
    right = wf.add("MaskComposite", 3, "Masks", title="Right half", destination=empty["MASK"],
                   source=half["MASK"], x=512, y=0, operation="add")
    positive, negative = prompts(wf, 4, m["sdxl"]["CLIP"], "photo of two people standing side by side in a "
                                 "park, looking at the camera, natural light, detailed skin, sharp focus")
    with_a = wf.add("HyperLoRAApplyConditioning", 4, "Prompt", title="Person A on the left",
                    model=m["sdxl"]["MODEL"], positive=positive["CONDITIONING"], negative=negative["CONDITIONING"],
                    coefficients=a["coefficients"], strength=STRENGTH, mask=left["MASK"])
    with_b = wf.add("HyperLoRAApplyConditioning", 4, "Prompt", title="Person B on the right",
                    model=with_a["model"], positive=with_a["positive"], negative=with_a["negative"],
                    coefficients=b["coefficients"], strength=STRENGTH, mask=right["MASK"])
    generate(wf, 5, with_b["model"], with_b["positive"], with_b["negative"], m["sdxl"]["VAE"], "two_people")


def late_identity(wf: Workflow) -> None:
    wf.add("Note", 0, text=FILES_NOTE + "\n\nThe identity starts at 30 % of the steps: the first steps follow "
           "the prompt alone and settle the composition, pose and framing; the face comes after. One model "
           "pass per step, as with HyperLoRA Apply; the model goes through Apply to Conditioning to the "
           "KSampler. fade_in softens the start.")
    m = models(wf)
    photo = wf.add("LoadImage", 1, "Face photo", image="face.jpg")
    coefficients, _ = face_identity(wf, 2, "Identity", m, photo["IMAGE"])
    positive, negative = prompts(wf, 3, m["sdxl"]["CLIP"], "wide shot photo of a person riding a bicycle "
                                 "through a city street at dusk, motion, cinematic light, sharp focus")
    identity = wf.add("HyperLoRAApplyConditioning", 3, "Prompt", title="Identity from step 30 %",
                      model=m["sdxl"]["MODEL"], positive=positive["CONDITIONING"], negative=negative["CONDITIONING"],
                      coefficients=coefficients["coefficients"], strength=STRENGTH, start_at=0.3, end_at=1.0,
                      fade_in=0.1)
    generate(wf, 4, identity["model"], identity["positive"], identity["negative"], m["sdxl"]["VAE"],
             "identity_from_30_percent")


def face_redraw(wf: Workflow) -> None:
    wf.add("Note", 0, text=FILES_NOTE + "\n\nRedraws the face of an existing image (an earlier render) with "
           "the identity, leaving the rest untouched: Face Mask finds the face, the identity is applied only "
           "there, the core inpaint nodes redraw it (denoise 0.6: lower keeps more of the old face), and "
           "the result is pasted back through the same mask. For several faces, set face_selection to index "
           "and chain one redraw per face.")
    m = models(wf)
    photo = wf.add("LoadImage", 2, "Identity", title="Face photo (the identity)", image="face.jpg")
    coefficients, _ = face_identity(wf, 2, "Identity", m, photo["IMAGE"])
    picture = wf.add("LoadImage", 1, "Image to redraw", title="Image to redraw", image="render.png")
    face_mask = wf.add("HyperLoRAFaceMask", 1, "Image to redraw", image=picture["IMAGE"],
                       face_analyzer=m["face_analyzer"]["face_analyzer"], face_selection="largest",
                       shape="outline", grow=0.15, grow_unit="face fraction", feather=16.0)
    wf.add("PreviewImage", 1, "Image to redraw", title="Face mask", images=face_mask["preview"])
    positive, negative = prompts(wf, 3, m["sdxl"]["CLIP"], "close-up photo of a person's face, natural skin "
                                 "texture, detailed eyes, sharp focus")
    identity = wf.add("HyperLoRAApplyConditioning", 3, "Prompt", title="Identity at the face",
                      model=m["sdxl"]["MODEL"], positive=positive["CONDITIONING"], negative=negative["CONDITIONING"],
                      coefficients=coefficients["coefficients"], strength=STRENGTH, mask=face_mask["mask"])
    inpaint = wf.add("InpaintModelConditioning", 4, "Redraw", positive=identity["positive"],
                     negative=identity["negative"], vae=m["sdxl"]["VAE"], pixels=picture["IMAGE"],
                     mask=face_mask["mask"], noise_mask=True)
    sampler = wf.add("KSampler", 4, "Redraw", model=identity["model"], positive=inpaint["positive"],
                     negative=inpaint["negative"], latent_image=inpaint["latent"], seed=42,
                     control_after_generate="randomize", denoise=0.6, **SAMPLER)
    decoded = wf.add("VAEDecode", 4, "Redraw", samples=sampler["LATENT"], vae=m["sdxl"]["VAE"])
    pasted = wf.add("ImageCompositeMasked", 4, "Redraw", title="Paste the new face back",
                    destination=picture["IMAGE"], source=decoded["IMAGE"], x=0, y=0, resize_source=False,
                    mask=face_mask["mask"])
    wf.add("SaveImage", 5, "Redraw", images=pasted["IMAGE"], filename_prefix="hyperlora/face_redraw")


GENERATION_EXAMPLES = (
    Example("hyperlora_one_photo", "Text to image with the likeness of one photo: the 4-node shortcut.",
            "Load Image → HyperLoRA Apply Face (+ Checkpoint Loader, Load CLIP Vision, Face Analyzer Loader) → "
            "KSampler → VAE Decode → Save Image", one_photo),
    Example("hyperlora_several_photos", "Several photos of one person fused into one identity, with a preview "
            "of the face crops.", "Load Image ×3 → Batch Images ×2 → HyperLoRA Encode Face (→ Preview Image) → "
            "HyperLoRA Predict Coefficients → HyperLoRA Apply → KSampler", several_photos),
    Example("hyperlora_controlnet", "The identity in a given pose, with an SDXL ControlNet (OpenPose or depth).",
            "Load Image → HyperLoRA Apply Face → KSampler ← Apply ControlNet ← Load ControlNet + Load Image (pose)",
            controlnet),
    Example("hyperlora_concept_slider", "A slider from the concept of image A to that of image B (e.g. neutral "
            "→ smiling) on top of the identity.", "HyperLoRA Apply Face → HyperLoRA Concept Slider ← "
            "(Encode Face → Predict Coefficients) ×2 for images A and B → KSampler", concept_slider),
    Example("hyperlora_mix_identities", "A blend of two people (weights 0.5 / 0.5).",
            "(Load Image → HyperLoRA Encode Face → HyperLoRA Predict Coefficients) ×2 → HyperLoRA Mix "
            "Identities → HyperLoRA Apply → KSampler", mix_identities),
    Example("hyperlora_save_lora", "Saves the identity as a normal SDXL LoRA file, and generates an image with "
            "it.", "Load Image → HyperLoRA Encode Face → HyperLoRA Predict Coefficients → HyperLoRA Export LoRA "
            "(and → HyperLoRA Apply → KSampler)", save_lora),
    Example("hyperlora_two_people", "Two people in one image: identity A in the left half, B in the right, "
            "the prompt for the rest.", "(Load Image → Encode Face → Predict Coefficients) ×2 + Solid Mask → Mask "
            "Composite (left / right) → HyperLoRA Apply to Conditioning ×2 (chained: model, positive, negative) → "
            "KSampler", two_people),
    Example("hyperlora_identity_from_30_percent", "The identity only from 30 % of the steps on: the prompt "
            "sets the composition first.", "Load Image → Encode Face → Predict Coefficients → HyperLoRA Apply "
            "to Conditioning (start_at 0.3) → KSampler", late_identity),
    Example("hyperlora_face_redraw", "Redraws the face of an existing image with the identity (the core-only "
            "answer to a FaceDetailer pass).", "Load Image → HyperLoRA Face Mask → HyperLoRA Apply to "
            "Conditioning (mask; model → KSampler) → Inpaint Model Conditioning → KSampler → VAE Decode → Image Composite Masked",
            face_redraw),
)
