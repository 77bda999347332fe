"""`python -m hyperlora_core likeness`: score generated images against reference photos or a saved identity.

Prints one line per image, `score<TAB>path` (and a note, e.g. when no face was found), in input order
or best first with --sort; --json prints the same as JSON. The score is the ArcFace cosine ('ID
similarity'); see README "Likeness".
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .arguments import path_text, progress, read_image, require_file

PHOTO_ADVICE = "Name image files (JPEG, PNG or WebP); a shell pattern like out/*.png names them all."


def add_parser(commands) -> argparse.ArgumentParser:
    likeness = commands.add_parser("likeness", help="score images by ArcFace likeness to reference photos or "
                                                    "a saved identity", description=(
        "Score generated images by how much their face looks like the person: the ArcFace cosine "
        "('ID similarity', -1..1: above ~0.5 clearly the same person, below ~0.2 someone else) against the mean of the reference photos "
        "or a saved identity. One line per image: score, tab, file (and a note when no face was found)."))
    likeness.add_argument("reference", nargs="+", metavar="REFERENCE", type=path_text,
                          help="photos of the person (their mean identity is used), or one identity file "
                               "saved with HyperLoRA Save Identity (.safetensors)")
    likeness.add_argument("--images", nargs="+", required=True, metavar="IMAGE", type=path_text,
                          help="the images to score")
    likeness.add_argument("--models", required=True, metavar="DIR", type=path_text,
                          help="ComfyUI models folder (for insightface/models/antelopev2)")
    likeness.add_argument("--sort", action="store_true", help="best first instead of input order")
    likeness.add_argument("--top-k", type=int, default=0, metavar="K", help="print only the K best (implies --sort)")
    likeness.add_argument("--json", action="store_true", help="print the scores as JSON")
    likeness.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                          help="where face analysis runs (default: cuda when onnxruntime-gpu can use it)")
    return likeness


def reference_from(paths: list[str], analyzer) -> tuple:
    """The unit reference embedding: from one identity file, or the mean of the photos' ArcFace embeddings."""
    import numpy as np
    import torch

    from .. import face
    from ..face.likeness import identity_reference, reference_embedding
    from ..library.identity_file import load_identity

    identity_files = [p for p in paths if p.lower().endswith(".safetensors")]
    if identity_files:
        if len(paths) != 1:
            raise ValueError("Give either one saved identity (.safetensors) or reference photos, not both.")
        saved = load_identity(Path(paths[0]).expanduser())
        if saved.arcface is None:
            raise ValueError(f"The identity {paths[0]} was saved without an ArcFace reference (e.g. a mix); "
                             "give the reference photos instead.")
        return identity_reference(saved.arcface, saved.label), f"identity '{saved.label}'"
    embeddings = []
    for number, path in enumerate(paths, start=1):
        image = read_image(path)
        faces = face.detect_faces(analyzer, image)
        where = f"reference photo {number} ({path})"
        chosen = face.select_face(faces, "largest", where=where)
        embeddings.append(face.arcface_embedding(analyzer, image, chosen, where))
    return reference_embedding(torch.from_numpy(np.stack(embeddings).astype(np.float32))), f"{len(paths)} photo(s)"


def run(args) -> int:
    from .. import face
    from ..face import likeness

    if args.top_k < 0:
        raise ValueError("--top-k must be 0 (all) or a positive number.")
    for path in args.reference:
        if path.lower().endswith(".safetensors"):
            require_file(path, "identity file", "Give the .safetensors file HyperLoRA Save Identity wrote "
                                                "(ComfyUI/models/hyper_lora/identities/), or reference photos.")
        else:
            require_file(path, "reference photo", PHOTO_ADVICE)
    for path in args.images:
        require_file(path, "image", PHOTO_ADVICE)
    models = Path(args.models).expanduser()
    progress(f"Loading face analysis (antelopev2) from {models / 'insightface'}")
    analyzer = face.load_face_analyzer(models / "insightface", provider=args.device)
    reference, described = reference_from(args.reference, analyzer)
    images = [read_image(path) for path in args.images]
    progress(f"Scoring {len(images)} image(s) against {described}")
    results = likeness.score_images(analyzer, images, reference)
    order = likeness.ranking(results, args.top_k) if (args.sort or args.top_k) else list(range(len(results)))
    if args.json:
        print(json.dumps([{"image": args.images[i], "score": round(results[i].score, 6), "note": results[i].note}
                          for i in order], indent=2))
    else:
        for i in order:
            note = f"\t{results[i].note}" if results[i].note else ""
            print(f"{results[i].score:.4f}\t{args.images[i]}{note}")
    progress(likeness.summary(results))
    return 0
