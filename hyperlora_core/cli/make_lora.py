"""`python -m hyperlora_core make-lora`: face photos -> an SDXL LoRA file, by the same pipeline as the nodes."""

from __future__ import annotations

import os
from pathlib import Path

from ..engine.lora_file import check_target
from ..engine.naming import TRIGGER_WORDS
from .arguments import finite_number, path_text, progress, read_image

DTYPES = ("fp16", "bf16", "fp32")
# The face pipeline's messages name node options by default; here they name our flags.
CLI_HINTS = {"skip": "add --skip-missing",
             "pick": "faces are numbered from the left, starting at 0, in each photo"}
MAX_NAME_BYTES = 255  # the usual file name limit (ext4, NTFS, APFS)


def add_parser(commands) -> None:
    make = commands.add_parser("make-lora", help="turn face photos of one person into an SDXL LoRA file",
                               description=(
        "Turn face photos of one person into an SDXL LoRA file, by the same pipeline as the ComfyUI nodes "
        "(no training, seconds). Use the file at strength ~0.8 with the trigger words it prints; both are "
        "also in its metadata."))
    make.add_argument("--face", action="append", required=True, metavar="IMAGE", type=path_text,
                      help="a photo of the person; repeat for several photos (they are averaged)")
    make.add_argument("--models", required=True, metavar="DIR", type=path_text, help="ComfyUI models folder")
    make.add_argument("--variant", help="checkpoint folder in MODELS/hyper_lora/hyper_lora "
                                        "(default: the only one installed)")
    make.add_argument("--clip", metavar="DIR", type=path_text,
                      help="CLIP ViT-L/14 folder with config.json + model.safetensors "
                           "(default: MODELS/hyper_lora/clip_vit/clip_vit_large_14)")
    make.add_argument("--out", required=True, metavar="FILE", type=path_text,
                      help="the LoRA to write (.safetensors)")
    make.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    make.add_argument("--style", choices=("comfy", "kohya", "comfy_trainer"), default="comfy",
                      help="key names: comfy (the checkpoint's own, read by ComfyUI and most UIs), kohya "
                           "(LDM-style, for kohya sd-scripts, e.g. fine-tuning) or comfy_trainer (what core "
                           "Train LoRA continues from; name the file like MODELS/loras/me_0_steps.safetensors)")
    make.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                      help="where the models run (default: cuda when available)")
    make.add_argument("--strength", type=finite_number, default=0.8,
                      help="recommended LoRA strength written into the file's metadata (default 0.8)")
    make.add_argument("--base-strength", type=finite_number, default=0.0,
                      help="bake the Base-LoRA in at this strength relative to the ID-LoRA "
                           "(default 0: ID only)")
    make.add_argument("--face-index", type=int, metavar="N",
                      help="use face N (from the left, from 0) in every photo instead of the largest one")
    make.add_argument("--skip-missing", action="store_true",
                      help="leave out photos in which no face is found instead of stopping")
    make.add_argument("--keep-background", action="store_true",
                      help="do not grey out the background around the face (it was greyed in training)")
    make.add_argument("--precision", choices=DTYPES, default="fp16",
                      help="weights in the file (default fp16)")


def run(args) -> int:
    print(make_lora(args))
    return 0


def make_lora(args) -> Path:
    """Run the whole pipeline and write the LoRA; returns its path. Errors say what to fix."""
    import torch

    from .. import face, load_hyperlora
    from ..engine.lora import kohya_state_dict
    from ..engine.lora_file import lora_metadata, write_lora_atomically

    out = _output_path(args.out, args.force)
    models = Path(args.models).expanduser()
    variant = _variant_folder(models, args.variant)
    device = _device(args.device)
    images = [read_image(path) for path in args.face]
    with_base = args.base_strength != 0
    if args.face_index is not None and args.face_index < 0:
        raise ValueError("--face-index counts faces from the left starting at 0; it cannot be negative.")

    progress(f"Loading HyperLoRA checkpoint {variant}")
    model = load_hyperlora(variant, device=device)
    if with_base and not model.has_base:
        raise ValueError(f"The checkpoint {variant} has no Base-LoRA (no base_resampler.safetensors); "
                         "leave --base-strength at 0.")
    progress(f"Loading face analysis (antelopev2) from {models / 'insightface'}")
    analyzer = face.load_face_analyzer(models / "insightface", provider=args.device)
    clip_folder = Path(args.clip or models / "hyper_lora" / "clip_vit" / "clip_vit_large_14").expanduser()
    progress(f"Loading CLIP image encoder from {clip_folder}")
    encoder = face.TransformersCLIPEncoder.from_folder(clip_folder, device=device)
    numbered = ", ".join(f"{number} = {path}" for number, path in enumerate(args.face, 1))
    progress(f"Encoding {len(images)} photo(s): {numbered}")
    conditioning = face.encode_faces(
        images, analyzer, encoder, remove_background=not args.keep_background,
        select="largest" if args.face_index is None else "index", face_index=args.face_index or 0,
        skip_missing=args.skip_missing, with_base=with_base, hints=CLI_HINTS,
        progress=lambda done, total: progress(f"  photo {done} of {total} done"),
        names=[str(path) for path in args.face])

    progress("Predicting the LoRA weights")
    alpha = model.predict_id_coefficients(conditioning.arcface, conditioning.clip_tokens)
    weighted = [(model.lora_factors(alpha, "id"), 1.0)]
    if with_base:
        beta = model.predict_base_coefficients(conditioning.base_clip_tokens)
        weighted.append((model.lora_factors(beta, "base"), args.base_strength))
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[args.precision]
    if args.style == "comfy_trainer":
        from ..engine.trainer_lora import trainer_state_dict

        tensors = {k: v.cpu() for k, v in trainer_state_dict(weighted, dtype=dtype).items()}
    else:
        tensors = {k: v.cpu() for k, v in kohya_state_dict(weighted, style=args.style, dtype=dtype).items()}

    metadata = lora_metadata(variant.name, args.style, args.base_strength, args.strength)
    progress(f"Writing {out}")
    write_lora_atomically(out, tensors, metadata, overwrite=args.force)
    progress(f"Done. Load it with a LoRA loader at about {args.strength:g} and start prompts with "
             f"'{TRIGGER_WORDS}'.")
    return out


def _output_path(out: str, force: bool) -> Path:
    path = Path(out).expanduser()
    if path.suffix != ".safetensors":
        raise ValueError(f"--out {out}: the LoRA file name must end in .safetensors.")
    if len(path.name.encode()) > MAX_NAME_BYTES:
        raise ValueError(f"--out: the file name is {len(path.name.encode())} bytes long; file systems allow "
                         f"{MAX_NAME_BYTES}. Choose a shorter name.")
    check_target(path, overwrite=True)  # a folder, FIFO, device or link is refused even with --force
    if os.path.lexists(path) and not force:
        raise ValueError(f"{path} already exists. Choose another --out, or add --force to overwrite it.")
    if not path.parent.is_dir():
        raise ValueError(f"The folder {path.parent} does not exist; create it first.")
    return path


def _variant_folder(models: Path, variant: str | None) -> Path:
    from ..setup.check import HYPERLORA_SOURCE, KNOWN_VARIANTS

    root = models / "hyper_lora" / "hyper_lora"
    installed = sorted(p.name for p in root.iterdir() if (p / "hyper_lora_modules.json").is_file()) \
        if root.is_dir() else []
    if variant:
        if (root / variant).is_dir():
            return root / variant
        raise ValueError(f"No HyperLoRA checkpoint '{variant}' in {root}. "
                         f"Installed: {', '.join(installed) or 'none'}.")
    if len(installed) == 1:
        return root / installed[0]
    if not installed:
        raise ValueError(f"No HyperLoRA checkpoint in {root}. Download {KNOWN_VARIANTS[0]} (or "
                         f"{KNOWN_VARIANTS[1]}) from {HYPERLORA_SOURCE} into that folder, or check --models "
                         f"(run: python -m hyperlora_core check --models {models}).")
    raise ValueError(f"Several checkpoints are installed ({', '.join(installed)}); "
                     "choose one with --variant.")


def _device(choice: str) -> str:
    import torch

    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but PyTorch sees no CUDA GPU. Use --device cpu.")
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return choice
