"""Find, validate and describe a HyperLoRA checkpoint folder.

Every hyper-parameter is read off tensor shapes, so users never fill in a
config that has to match the checkpoint by hand. Only the attention head split
(heads x dim_head) cannot be seen in the shapes: the released width 768 is split 12 x 64 as the
format says, and any other width is refused unless the caller says how (attention_split).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..validate import load_json_file
from .naming import PROJECTIONS, ldm_block
from .safetensors_io import SafetensorsFile, refuse_pickle

MODULES_JSON = "hyper_lora_modules.json"
BASES = "hyper_lora_modules.safetensors"
RESAMPLER = "resampler.safetensors"
ID_PROJECTOR = "id_projector.safetensors"
BASE_RESAMPLER = "base_resampler.safetensors"
REQUIRED_FILES = (MODULES_JSON, BASES, RESAMPLER, ID_PROJECTOR)
TOKENS_PER_MODULE = 8  # 4 projections x (down, up)


@dataclass(frozen=True)
class ModuleSpec:
    """One LoRA module of the JSON: its name and the widths its projections need."""

    name: str
    hidden_size: int
    cross_attention_dim: int | None

    def in_features(self, projection: str) -> int:
        if projection in ("to_k", "to_v") and self.cross_attention_dim:
            return self.cross_attention_dim
        return self.hidden_size


@dataclass(frozen=True)
class HyperLoRAConfig:
    """Hyper-parameters of a checkpoint, all inferred from its tensors."""

    num_modules: int
    num_basis: int  # K
    rank: int  # r of the ID-LoRA
    base_rank: int | None  # r of the Base-LoRA (r/2 in the release), None without one
    dim: int  # resampler width
    depth: int
    heads: int
    dim_head: int
    ff_mult: int
    embed_dim: int  # E: width of the ID tokens fed to proj_in
    clip_dim: int | None  # width of the CLIP tokens fed to proj_in_2 (None with one condition)
    id_tokens: int  # T
    arcface_dim: int
    num_queries: int  # Q = 8 x modules
    two_conditions: bool
    has_base: bool


@dataclass(frozen=True)
class CheckpointFiles:
    folder: Path
    modules_json: Path
    bases: Path
    resampler: Path
    id_projector: Path
    base_resampler: Path | None


def find_checkpoint_files(path: str | Path) -> CheckpointFiles:
    """Resolve a checkpoint folder (or a file inside it) and check its files are there."""
    folder = Path(path).expanduser()
    refuse_pickle(folder)
    if folder.is_file():
        folder = folder.parent
    if not folder.is_dir():
        raise FileNotFoundError(
            f"HyperLoRA checkpoint folder not found: {folder}. Put the variant folder (for example "
            "sdxl_hyper_id_lora_v1_fidelity) in ComfyUI/models/hyper_lora/hyper_lora/."
        )
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        pickles = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in (".ckpt", ".bin", ".pt", ".pth"))
        hint = f" Found pickle files {pickles}: we load safetensors only." if pickles else ""
        raise FileNotFoundError(
            f"The HyperLoRA folder {folder} is missing {', '.join(missing)}.{hint} Download the complete variant "
            "folder from the Hugging Face repository bytedance-research/HyperLoRA and keep its file names."
        )
    base = folder / BASE_RESAMPLER
    return CheckpointFiles(folder, folder / MODULES_JSON, folder / BASES, folder / RESAMPLER,
                           folder / ID_PROJECTOR, base if base.is_file() else None)


def read_module_specs(path: Path) -> list[ModuleSpec]:
    """Parse hyper_lora_modules.json, keeping its (significant) order."""
    raw = load_json_file(path, "Download it again from the HyperLoRA repository.")
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{path} should be a JSON object of LoRA modules, but it is empty or not an object.")
    specs = []
    for name, info in raw.items():
        try:
            hidden = _positive_int(info["hidden_size"])
            cross = info.get("cross_attention_dim")
            cross = None if cross is None else _positive_int(cross)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
            raise ValueError(
                f"{path}: entry '{name}' needs 'hidden_size' (a number) and 'cross_attention_dim' "
                "(a number or null). Download the file again."
            ) from None
        ldm_block(name)  # raises a clear error for names we cannot map
        specs.append(ModuleSpec(name, hidden, cross))
    return specs


def _positive_int(value) -> int:
    if type(value) is not int or value <= 0:  # JSON 1e400 is inf, 2.5 a float, true a bool: all refused
        raise ValueError(value)
    return value


def _need(st: SafetensorsFile, key: str) -> tuple[int, ...]:
    if key not in st:
        raise ValueError(
            f"{st.path} has no tensor '{key}'. The file does not match the released HyperLoRA layout "
            "(wrong file, or from another model). Download the HyperLoRA files again."
        )
    return st.shape(key)


def check_bases(st: SafetensorsFile, specs: list[ModuleSpec], prefix: str) -> tuple[int, int]:
    """Check the `{prefix}_down/up_basis` shapes against the JSON; return (K, rank)."""
    num_basis = rank = None
    for i, spec in enumerate(specs):
        for proj in PROJECTIONS:
            down = _need(st, f"{i}.{proj}.{prefix}_down_basis")
            up = _need(st, f"{i}.{proj}.{prefix}_up_basis")
            num_basis = num_basis or down[0]
            rank = rank or down[2]
            expected_down = (num_basis, spec.in_features(proj), rank)
            expected_up = (num_basis, rank, spec.hidden_size)
            if down != expected_down or up != expected_up:
                raise ValueError(
                    f"Module {i} '{spec.name}' of {MODULES_JSON} does not fit the bases in {st.path.name}: "
                    f"{proj} has down {down} / up {up}, but the JSON entry implies {expected_down} / "
                    f"{expected_up}. The JSON and the bases come from different checkpoints, or the JSON's "
                    "order was changed. Use the JSON that was downloaded with these bases."
                )
    extra = f"{len(specs)}.to_q.{prefix}_down_basis"
    if extra in st:
        raise ValueError(
            f"{st.path.name} holds more modules than the {len(specs)} listed in {MODULES_JSON}. "
            "The JSON does not belong to these bases; download the matching JSON."
        )
    return num_basis, rank


def _layer_count(st: SafetensorsFile) -> int:
    depth = 0
    while f"layers.{depth}.norm_attn1.weight" in st:
        depth += 1
    return depth


RELEASED_SPLIT = (12, 64)  # heads x dim_head of the released checkpoints (hyperlora-format.md, section 4)


def attention_split(path, inner: int, heads: int | None, dim_head: int | None) -> tuple[int, int]:
    """(heads, dim_head) of an attention width `inner`: the files hold only the product.

    Given both, they must multiply to it; given one, the other follows. Given neither, the released
    width 768 is the released 12 x 64; any other width cannot be split without being told, so it is refused.
    """
    if heads is None and dim_head is None:
        if inner == RELEASED_SPLIT[0] * RELEASED_SPLIT[1]:
            return RELEASED_SPLIT
        raise ValueError(
            f"{path}: attention width is {inner}, not the released 768 (12 heads x 64), and the files do not "
            f"say how it splits into heads. Pass heads= and dim_head= (their product must be {inner}) to "
            "load_hyperlora, as the checkpoint's authors give them.")
    if heads is None and dim_head and inner % dim_head == 0:
        heads = inner // dim_head
    if dim_head is None and heads and inner % heads == 0:
        dim_head = inner // heads
    if heads is None or dim_head is None or heads * dim_head != inner:
        raise ValueError(
            f"{path}: attention width is {inner}, but heads x dim_head = {heads} x {dim_head}. Set heads/dim_head "
            f"so that their product is {inner}.")
    return heads, dim_head


def resampler_shape(st: SafetensorsFile, heads: int | None, dim_head: int | None) -> dict:
    """Infer the resampler's hyper-parameters from its tensors (the attention split: attention_split)."""
    _, queries, dim = _need(st, "latents")
    num_basis, _ = _need(st, "proj_out.weight")
    _, embed_dim = _need(st, "proj_in.weight")
    two = "proj_in_2.weight" in st
    depth = _layer_count(st)
    if depth == 0:
        raise ValueError(f"{st.path} has no resampler layers ('layers.0.*'). Download the file again.")
    inner, _ = _need(st, "layers.0.attn1.to_q.weight")
    heads, dim_head = attention_split(st.path, inner, heads, dim_head)
    ff_hidden, _ = _need(st, "layers.0.ff.net.0.proj.weight")
    for j in range(depth):
        for name in ("attn1", "attn2") + (("attn3",) if two else ()):
            _need(st, f"layers.{j}.{name}.to_out.0.weight")
        _need(st, f"layers.{j}.ff.net.2.weight")
    return {
        "queries": queries, "dim": dim, "num_basis": num_basis, "embed_dim": embed_dim, "depth": depth,
        "two_conditions": two, "ff_mult": ff_hidden // dim,
        "clip_dim": _need(st, "proj_in_2.weight")[1] if two else None, "heads": heads, "dim_head": dim_head,
    }


def infer_config(files: CheckpointFiles, specs: list[ModuleSpec], heads: int | None = None,
                 dim_head: int | None = None) -> tuple[
        HyperLoRAConfig, dict[str, SafetensorsFile]]:
    """Validate every file against the others and infer the configuration."""
    st = {
        "bases": SafetensorsFile(files.bases),
        "resampler": SafetensorsFile(files.resampler),
        "id_projector": SafetensorsFile(files.id_projector),
    }
    if files.base_resampler is not None:
        st["base_resampler"] = SafetensorsFile(files.base_resampler)
    for weights in st.values():
        weights.require_float()  # integer "weights" would load and give a garbage LoRA
    num_basis, rank = check_bases(st["bases"], specs, "id")
    has_base = files.base_resampler is not None
    base_rank = check_bases(st["bases"], specs, "base")[1] if has_base else None

    res = resampler_shape(st["resampler"], heads, dim_head)
    queries = TOKENS_PER_MODULE * len(specs)
    if res["queries"] != queries or res["num_basis"] != num_basis:
        raise ValueError(
            f"{files.resampler.name} predicts {res['queries']} tokens of width {res['num_basis']}, but "
            f"{len(specs)} modules with K={num_basis} bases need {queries} tokens of width {num_basis}. "
            "The resampler and the bases come from different checkpoints; download the variant folder again."
        )
    proj = st["id_projector"]
    tokens_x_embed, arcface_dim = _need(proj, "0.weight")
    (embed_dim,) = _need(proj, "2.weight")
    _need(proj, "0.bias")
    _need(proj, "2.bias")
    if embed_dim != res["embed_dim"] or tokens_x_embed % embed_dim:
        raise ValueError(
            f"{files.id_projector.name} makes tokens of width {embed_dim}, but the resampler's proj_in "
            f"expects {res['embed_dim']}. The files come from different checkpoints."
        )
    if has_base:
        base = resampler_shape(st["base_resampler"], res["heads"], res["dim_head"])
        if base["queries"] != queries or base["num_basis"] != num_basis or base["two_conditions"]:
            raise ValueError(
                f"{files.base_resampler.name} does not match: it predicts {base['queries']} x "
                f"{base['num_basis']} with {'two conditions' if base['two_conditions'] else 'one'}; expected "
                f"{queries} x {num_basis} with one condition."
            )
    config = HyperLoRAConfig(
        num_modules=len(specs), num_basis=num_basis, rank=rank, base_rank=base_rank, dim=res["dim"],
        depth=res["depth"], heads=res["heads"], dim_head=res["dim_head"], ff_mult=res["ff_mult"], embed_dim=embed_dim,
        clip_dim=res["clip_dim"], id_tokens=tokens_x_embed // embed_dim, arcface_dim=arcface_dim,
        num_queries=queries, two_conditions=res["two_conditions"], has_base=has_base,
    )
    return config, st
