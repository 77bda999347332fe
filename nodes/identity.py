"""Save Identity / Load Identity: keep a cast of identities as small files, reuse them without face models.

The files live in the registered folder `hyper_lora_identities` (models/hyper_lora/identities by default;
extra_model_paths.yaml can add more). New files are written into its first folder.
"""

from __future__ import annotations

import datetime
import os
import unicodedata

from ..hyperlora_core.library import identity_file
from ..hyperlora_core.validate import shown
from .folders import forget_cached_list
from .types import CATEGORY, Coefficients
from .v3 import Coeffs, Hyperlora, check_booleans, chosen_file, io, listed_or_message, output, schema

FOLDER = "hyper_lora_identities"


def fingerprint(hyperlora) -> str:
    """The checkpoint fingerprint of a loaded HyperLoRA (computed once per checkpoint file date)."""
    return identity_file.checkpoint_fingerprint(hyperlora.engine.path)


def list_identities() -> list[str]:
    import folder_paths

    return [name.replace(os.sep, "/") for name in folder_paths.get_filename_list(FOLDER)]


def save_folder() -> str:
    import folder_paths

    folders = folder_paths.get_folder_paths(FOLDER)
    if not folders:
        raise ValueError("No identities folder is registered; restart ComfyUI so HyperLoRA can register "
                         "models/hyper_lora/identities.")
    return folders[0]


def spellings(name: str) -> list[str]:
    """`name` in Unicode NFC first (how names are saved: 'José' typed on macOS and on Windows is one file),
    then as typed and in NFD (a file saved under another form before names were normalised)."""
    if not isinstance(name, str):
        return [name]
    return list(dict.fromkeys([unicodedata.normalize("NFC", name), name, unicodedata.normalize("NFD", name)]))


def existing_file(name: str) -> str | None:
    """The installed file for `name` in any identities folder (the Load list shows only one of them)."""
    import folder_paths

    for spelling in spellings(name):
        relative = identity_file.identity_relative_path(spelling)
        for folder in folder_paths.get_folder_paths(FOLDER):
            path = os.path.join(folder, relative)
            if os.path.lexists(path):
                return path
    return None


def resolve_identity(name: str) -> str:
    """The path of an installed identity; a name that leaves the folders, or is not installed, is refused."""
    import folder_paths

    folders = folder_paths.get_folder_paths(FOLDER)
    for spelling in spellings(name):
        relative = identity_file.identity_relative_path(spelling)
        for folder in folders:
            path = identity_file.identity_path(folder, relative)
            if path.is_file():
                return str(path)
    searched = "\n  ".join(folders) or "(none)"
    raise ValueError(f"The identity {shown(name)} was not found. Searched:\n  {searched}\nSave it first with "
                     "HyperLoRA Save Identity, or press 'r' in ComfyUI to refresh the list.")


def save(coefficients: Coefficients, name: str, overwrite: bool = False) -> str:
    """Write `coefficients` as the identity `name`; returns the file's path."""
    from ..hyperlora_core.face.likeness import reference_embedding

    folder = save_folder()
    existing = [s for s in spellings(name)
                if os.path.lexists(os.path.join(folder, identity_file.identity_relative_path(s)))]
    name = (existing or spellings(name))[0]  # NFC, or the file already there: one file for names that look alike
    real_path = identity_file.identity_path(folder, name)  # refuses names leading out of the folder
    path = os.path.join(folder, identity_file.identity_relative_path(name))  # the name itself: never a link's target
    other = existing_file(name)
    if other is not None and not overwrite:
        raise ValueError(f"An identity named {shown(name)} already exists ({other}). Choose another name, or turn on "
                         "'overwrite' to replace it.")
    hyperlora = coefficients.hyperlora
    thumbnail = None
    if coefficients.thumbnail is not None:
        thumbnail = identity_file.thumbnail_array(coefficients.thumbnail)
    arcface = None if coefficients.arcface is None else reference_embedding(coefficients.arcface)
    saved = identity_file.SavedIdentity(
        alpha=coefficients.alpha, beta=coefficients.beta, label=coefficients.label, checkpoint=hyperlora.name,
        fingerprint=fingerprint(hyperlora),
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        arcface=arcface, thumbnail=thumbnail)
    identity_file.save_identity(path, saved, overwrite=overwrite)
    forget_cached_list(FOLDER)
    return str(real_path)


def load(hyperlora, name: str) -> Coefficients:
    """The saved coefficients of `name`, checked against the loaded checkpoint."""
    path = resolve_identity(name)
    saved = identity_file.load_identity(path)
    config = hyperlora.config
    identity_file.check_checkpoint(saved, hyperlora.name, fingerprint(hyperlora),
                                   (config.num_queries, config.num_basis), f"The identity '{name}'")
    thumbnail = None
    if saved.thumbnail is not None:
        from PIL import Image

        thumbnail = Image.fromarray(saved.thumbnail, "RGB")
    return Coefficients(hyperlora, saved.alpha, saved.beta, saved.label, arcface=saved.arcface,
                        thumbnail=thumbnail)


class HyperLoRASaveIdentity(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return schema(
            "HyperLoRASaveIdentity", display_name="HyperLoRA Save Identity", category=f"{CATEGORY}/identities",
            description=("Keeps an identity for later: writes its coefficients, a face thumbnail and its ArcFace "
                         "reference to models/hyper_lora/identities/<name>.safetensors (about 0.6 MB; 1.2 MB with a "
                         "Base-LoRA). HyperLoRA "
                         "Load Identity brings it back without the photos or any face model. An identity works only "
                         "with the checkpoint that made it; the file remembers which one."),
            inputs=[
                Coeffs.Input("coefficients", tooltip="The identity to keep, from Predict Coefficients or Mix "
                                                     "Identities."),
                io.String.Input("name", default="my_identity", tooltip=(
                    "File name in models/hyper_lora/identities (without .safetensors). Sub-folders allowed, e.g. "
                    "'cast/alice'; leaving the folder is not.")),
                io.Boolean.Input("overwrite", default=False, tooltip=(
                    "Replace an identity of the same name. Off: an existing name stops with an error and nothing "
                    "is written.")),
            ],
            outputs=[output(io.String, "path", "Where the identity was written.")],
            is_output_node=True)

    @classmethod
    def execute(cls, coefficients, name, overwrite):
        check_booleans(cls, overwrite=overwrite)  # the text "false" is truthy: it would replace the file
        path = save(coefficients, name, overwrite)
        return io.NodeOutput(path, ui={"text": [path], "hyperlora_identity_saved": [name]})


class HyperLoRALoadIdentity(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return schema(
            "HyperLoRALoadIdentity", display_name="HyperLoRA Load Identity", category=f"{CATEGORY}/identities",
            description=("Loads an identity saved with HyperLoRA Save Identity: the same coefficients as when it was "
                         "saved, with no photos, no face analyzer and no CLIP model. It must be used with the "
                         "checkpoint that made it; another one is refused with its name."),
            inputs=[
                Hyperlora.Input("hyperlora", tooltip="From HyperLoRA Checkpoint Loader: the checkpoint the identity "
                                                     "was saved with."),
                io.Combo.Input("identity", options=list_identities(), tooltip=(
                    "A saved identity (models/hyper_lora/identities); the web extension shows its face under the "
                    "list.")),
            ],
            outputs=[output(Coeffs, "coefficients",
                            "The saved identity: connect to Apply, Export LoRA, Mix Identities or Likeness.")])

    @classmethod
    def validate_inputs(cls, identity=None):
        return listed_or_message(identity, list_identities(), "identity",
                                 "models/hyper_lora/identities/ (save it with HyperLoRA Save Identity)")

    @classmethod
    def fingerprint_inputs(cls, identity=None, **_):
        """Read the file again when it changed (overwritten under the same name)."""
        try:
            return os.path.getmtime(resolve_identity(identity))
        except (ValueError, OSError, TypeError):
            return float("nan")

    @classmethod
    def execute(cls, hyperlora, identity):
        identity = chosen_file(cls, "identity", identity, list_identities())
        return io.NodeOutput(load(hyperlora, identity))
