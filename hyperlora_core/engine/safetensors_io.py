"""Read safetensors files straight into preallocated memory.

We parse the (simple) safetensors header ourselves instead of memory-mapping
the file: that lets us check a file for truncation before touching torch, read
each tensor directly into its slot of a stacked tensor (no second full copy),
and keep the resident memory near the size of what we keep.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import torch

from ..validate import parse_json_text

DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
FLOAT_DTYPES = ("F64", "F32", "F16", "BF16")
# Valid safetensors dtypes this loader does not read: a newer or quantised release, not a damaged file.
UNSUPPORTED_DTYPES = ("F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "U16", "U32", "U64", "C64")
MAX_HEADER_BYTES = 100_000_000  # the safetensors library's own limit

PICKLE_SUFFIXES = {".ckpt", ".bin", ".pt", ".pth", ".pkl", ".pickle"}
REDOWNLOAD_HINT = "Delete it and download it again (an interrupted download is the usual cause)."


def refuse_pickle(path: Path) -> None:
    """Refuse pickle-based weights: unpickling can run arbitrary code."""
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise ValueError(
            f"{path} is a pickle-based file ({path.suffix}). HyperLoRA for ComfyUI only loads "
            ".safetensors files, because unpickling can run arbitrary code. "
            "Download the .safetensors version of the weights instead."
        )


class SafetensorsFile:
    """The header of one safetensors file, validated against the file size."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        refuse_pickle(self.path)
        if not self.path.is_file():
            raise FileNotFoundError(f"Missing file: {self.path}. Download it and put it in {self.path.parent}.")
        self.size = self.path.stat().st_size
        with open(self.path, "rb") as f:
            prefix = f.read(8)
            if len(prefix) < 8:
                raise ValueError(self._damaged(f"it is only {self.size} bytes long"))
            (header_len,) = struct.unpack("<Q", prefix)
            if header_len > self.size - 8 or header_len > MAX_HEADER_BYTES:
                self._not_safetensors(prefix)
                raise ValueError(
                    f"{self.path} is damaged or incomplete, or not a safetensors file at all (for example a pickle "
                    f".bin/.ckpt renamed to .safetensors): its header claims {header_len} bytes but the file has "
                    f"{self.size}. {REDOWNLOAD_HINT}")
            raw = f.read(header_len)
        header = parse_json_text(raw, f"{self.path} is damaged or incomplete: its header", REDOWNLOAD_HINT)
        if not isinstance(header, dict):
            raise ValueError(self._damaged("its header is not a JSON object"))  # noqa: TRY004 (bad file, not bad call)
        metadata = header.pop("__metadata__", None) or {}
        self.metadata = metadata if isinstance(metadata, dict) else {}
        self.data_start = 8 + header_len
        self.entries = header
        self._check_entries()

    def _not_safetensors(self, prefix: bytes) -> None:
        """Name the usual impostors when the header length makes no sense."""
        if prefix.startswith(b"version "):
            raise ValueError(
                f"{self.path} is a Git LFS pointer (a small text file), not the weights. "
                "Download the real file (for example with the 'Download' button on the model page)."
            )
        if prefix.startswith(b"PK\x03\x04") or prefix[:1] == b"\x80":
            raise ValueError(
                f"{self.path} is a pickle/zip archive with a .safetensors name. We only load real "
                "safetensors files, because unpickling can run arbitrary code. Download the file again."
            )

    def _damaged(self, why: str) -> str:
        return f"{self.path} is damaged or incomplete: {why}. {REDOWNLOAD_HINT}"

    def _check_entries(self) -> None:
        """The checks of the safetensors library: known dtype, whole-number shape and offsets, and
        tensors that tile the data exactly (no overlap, no gap), ending at the end of the file."""
        spans = []
        for name, info in self.entries.items():
            try:
                dtype_name = info["dtype"]
                shape, offsets = info["shape"], info["data_offsets"]
            except (KeyError, TypeError):
                raise ValueError(self._damaged(f"tensor '{name}' has an unreadable header entry")) from None
            if dtype_name in UNSUPPORTED_DTYPES:
                raise ValueError(
                    f"{self.path}: tensor '{name}' is stored as {dtype_name}, a format HyperLoRA for ComfyUI does "
                    "not read. The file is fine, but it is a converted/quantised version: download the original "
                    "fp16 (or fp32) release, or convert this file to fp16 first.")
            if dtype_name not in DTYPES:
                raise ValueError(self._damaged(f"tensor '{name}' has an unknown dtype {str(dtype_name)[:40]!r}"))
            if not (_whole_numbers(shape) and _whole_numbers(offsets) and len(offsets) == 2):
                raise ValueError(self._damaged(f"tensor '{name}' has a shape or offsets that are not whole numbers"))
            begin, end = offsets
            numel = 1
            for size in shape:
                numel *= size
            if begin > end or end - begin != numel * DTYPES[dtype_name].itemsize:
                raise ValueError(self._damaged(f"tensor '{name}' has inconsistent offsets"))
            spans.append((begin, end, name))
        position = 0
        for begin, end, name in sorted(spans):
            if begin != position:
                why = "overlaps another tensor" if begin < position else "leaves a gap before it"
                raise ValueError(self._damaged(f"tensor '{name}' {why} (its data_offsets do not follow on)"))
            position = end
        if self.data_start + position != self.size:
            raise ValueError(
                self._damaged(f"it should be {self.data_start + position} bytes long but is {self.size} bytes")
            )

    def float_problem(self) -> str | None:
        """Why this file cannot hold HyperLoRA weights (a tensor of an integer type), or None."""
        for name, info in self.entries.items():
            if info["dtype"] not in FLOAT_DTYPES:
                return (f"{self.path}: tensor '{name}' is stored as {info['dtype']} (integers), but HyperLoRA "
                        "weights are floating point. This is not a HyperLoRA file, or a quantised conversion: "
                        "download the original fp16 release.")
        return None

    def require_float(self) -> None:
        problem = self.float_problem()
        if problem:
            raise ValueError(problem)

    def keys(self) -> list[str]:
        return list(self.entries)

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self.entries[key]["shape"])

    def dtype(self, key: str) -> torch.dtype:
        return DTYPES[self.entries[key]["dtype"]]

    def read_into(self, key: str, out: torch.Tensor, f=None) -> None:
        """Copy tensor `key` into `out` (contiguous, CPU, same shape), casting if the dtype differs."""
        if tuple(out.shape) != self.shape(key):
            raise ValueError(f"{self.path}: tensor '{key}' has shape {self.shape(key)}, expected {tuple(out.shape)}")
        target = out if out.dtype == self.dtype(key) else torch.empty(out.shape, dtype=self.dtype(key))
        begin = self.entries[key]["data_offsets"][0]
        if f is None:
            with open(self.path, "rb") as fh:
                self._read_bytes(fh, begin, target)
        else:
            self._read_bytes(f, begin, target)
        if target is not out:
            out.copy_(target)

    def _read_bytes(self, f, begin: int, target: torch.Tensor) -> None:
        buffer = target.view(-1).view(torch.uint8).numpy() if target.numel() else None
        if buffer is None:
            return
        f.seek(self.data_start + begin)
        got = f.readinto(memoryview(buffer))
        if got != buffer.nbytes:
            raise ValueError(self._damaged("a tensor ends before its data does"))

    def read(self, key: str, dtype: torch.dtype | None = None) -> torch.Tensor:
        out = torch.empty(self.shape(key), dtype=dtype or self.dtype(key))
        self.read_into(key, out)
        return out

    def read_all(self, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
        with open(self.path, "rb") as f:
            result = {}
            for key in self.entries:
                out = torch.empty(self.shape(key), dtype=dtype or self.dtype(key))
                self.read_into(key, out, f)
                result[key] = out
            return result


def _whole_numbers(values) -> bool:
    """A JSON list of non-negative integers (JSON 1e400 parses as inf, 2.5 as a float: both refused)."""
    return isinstance(values, list) and all(type(v) is int and v >= 0 for v in values)
