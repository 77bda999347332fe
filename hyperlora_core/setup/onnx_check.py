"""Is an .onnx file a complete ONNX model? Checked from its protobuf framing, without onnx or a session.

An ONNX file is a protobuf ModelProto whose field 7 is the graph (nodes and weights). Walking the
field headers of the model and of its graph, seeking over every payload, proves that each declared
length fits in the file and that the file ends exactly where its last field does: a truncated
download, an HTML error page or a Git LFS pointer fails, a whole model passes. It reads a few bytes
per field (milliseconds for the 250 MB recognition model), so the setup report can afford it.
"""

from __future__ import annotations

from pathlib import Path

GRAPH_FIELD = 7  # ModelProto.graph
NODE_FIELD = 1  # GraphProto.node
VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
MAX_FIELDS = 2_000_000  # far more than any real graph's top-level fields; bounds the time on hostile files


class _Broken(Exception):
    pass


def _varint(f) -> int:
    result = shift = 0
    for _ in range(10):
        byte = f.read(1)
        if not byte:
            raise _Broken("it ends in the middle of a field")
        result |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return result
        shift += 7
    raise _Broken("it holds a malformed number")


def _fields(f, end: int):
    """(field number, payload start, payload end) of each field up to byte `end`; payloads are skipped."""
    for _ in range(MAX_FIELDS):
        position = f.tell()
        if position == end:
            return
        tag = _varint(f)
        field, wire = tag >> 3, tag & 7
        if field == 0:
            raise _Broken("it holds a field numbered 0")
        if wire == VARINT:
            _varint(f)
            start = f.tell()
        elif wire in (FIXED64, FIXED32, LENGTH):
            size = {FIXED64: 8, FIXED32: 4}.get(wire) or _varint(f)
            start = f.tell()
            f.seek(start + size)
        else:
            raise _Broken(f"field {field} has the unknown wire type {wire}")
        if f.tell() > end:
            raise _Broken(f"field {field} claims {f.tell() - start} bytes, more than the file has left")
        yield field, start, f.tell()
    raise _Broken("it has implausibly many fields")


def onnx_problem(path: str | Path) -> str | None:
    """Why `path` is not a complete ONNX model (damaged, truncated, not ONNX), or None when it is."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            graphs = [(start, end) for field, start, end in _fields(f, size) if field == GRAPH_FIELD]
            if not graphs:
                raise _Broken("it holds no graph")
            start, end = graphs[-1]
            f.seek(start)
            if not any(field == NODE_FIELD for field, _, _ in _fields(f, end)):
                raise _Broken("its graph has no nodes")
    except _Broken as why:
        return (f"{path} is not a complete ONNX model: {why}. The download was probably interrupted, or "
                "another file (an HTML page, a Git LFS pointer) was saved under this name. Download it again.")
    except OSError as exc:
        return f"{path} could not be read ({exc}). Check the file's permissions, or download it again."
    return None
