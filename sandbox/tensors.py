"""A case's tensors on their way out of the sandbox, in the safetensors layout, with as few
copies as the way allows.

The child writes the header and then each tensor's own memory (no serialised copy of the
whole set first); the outside reads the frame into one buffer and makes tensors that are views
of it (no second copy). A timed case's outputs are tens of megabytes, and on a worker whose
memory copies run at 1-2 GB/s every copy of them cost tens of milliseconds of the verdict.

`load()` reads what an untrusted child wrote: every entry is checked (a known dtype, a shape
of non-negative sizes, offsets inside the buffer that match the shape) before any tensor is
made, and a malformed frame is a ProtocolError, never a crash of the reader.
"""

from __future__ import annotations

import json
import math
from typing import Any

import torch

from sandbox.framing import ProtocolError

# safetensors' names for the dtypes a case may produce.
_NAMES: dict[torch.dtype, str] = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL", torch.complex64: "C64",
}
_DTYPES = {name: dtype for dtype, name in _NAMES.items()}
MAX_HEADER_BYTES = 16 << 20


def parts(tensors: dict[str, torch.Tensor]) -> list[bytes | memoryview]:
    """The safetensors bytes of `tensors` (CPU tensors), as the header followed by each
    tensor's memory: write them in order. Tensors are laid out widest element first, so each
    starts at a multiple of its element size (the header is padded to 8 bytes)."""
    entries: dict[str, Any] = {}
    views: list[memoryview] = []
    offset = 0
    order = sorted(tensors.items(), key=lambda kv: (-kv[1].element_size(), kv[0]))
    for name, t in order:
        if t.dtype not in _NAMES:
            raise TypeError(f"tensor `{name}` has dtype {t.dtype}, which a case cannot return")
        flat = t.detach().contiguous().reshape(-1)
        raw = memoryview(flat.view(torch.uint8).numpy()) if flat.numel() else memoryview(b"")  # type: ignore[arg-type]
        entries[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape),
                         "data_offsets": [offset, offset + raw.nbytes]}
        views.append(raw)
        offset += raw.nbytes
    header = json.dumps(entries, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    return [len(header).to_bytes(8, "little"), header, *views]


def size(chunks: list[bytes | memoryview]) -> int:
    """The byte length of parts()' output."""
    return sum(memoryview(c).nbytes for c in chunks)


def dumps(tensors: dict[str, torch.Tensor]) -> bytes:
    """parts() joined: one bytes object (for what is written to disk or compared whole)."""
    return b"".join(bytes(c) for c in parts(tensors))


def load(buf: bytes | bytearray | memoryview) -> dict[str, torch.Tensor]:
    """Tensors from safetensors bytes: views of `buf` where it is writable and the element is
    aligned (a bytearray, as the result reader gives), copies otherwise."""
    view = memoryview(buf).cast("B")
    total = view.nbytes
    if total < 8:
        raise ProtocolError("output tensors are truncated")
    n = int.from_bytes(view[:8], "little")
    if n > min(total - 8, MAX_HEADER_BYTES):
        raise ProtocolError("output tensors have a malformed header")
    try:
        header = json.loads(bytes(view[8 : 8 + n]))
    except ValueError:
        header = None
    if not isinstance(header, dict):
        raise ProtocolError("output tensors have a malformed header")
    base = 8 + n
    out: dict[str, torch.Tensor] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype, shape, start, end = _entry(name, entry, total - base)
        if start == end:
            out[name] = torch.empty(shape, dtype=dtype)
            continue
        chunk = view[base + start : base + end]
        itemsize = torch.empty((), dtype=dtype).element_size()
        if view.readonly or (base + start) % itemsize:
            out[name] = torch.frombuffer(bytearray(chunk), dtype=dtype).reshape(shape)
        else:
            out[name] = torch.frombuffer(chunk, dtype=dtype).reshape(shape)
    return out


def _entry(name: str, entry: Any, data_bytes: int) -> tuple[torch.dtype, list[int], int, int]:
    """One header entry, checked: (dtype, shape, start, end) within data_bytes."""
    where = f"output tensor `{str(name)[:60]}`"
    if not isinstance(entry, dict):
        raise ProtocolError(f"{where}: malformed entry")
    dtype = _DTYPES.get(entry.get("dtype"))  # type: ignore[arg-type]
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    if dtype is None:
        raise ProtocolError(f"{where}: unknown dtype")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape) or len(shape) > 64:
        raise ProtocolError(f"{where}: malformed shape")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(type(o) is int for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data_bytes):
        raise ProtocolError(f"{where}: offsets outside the frame")
    itemsize = torch.empty((), dtype=dtype).element_size()
    if offsets[1] - offsets[0] != math.prod(shape) * itemsize:
        raise ProtocolError(f"{where}: its size does not match its shape")
    return dtype, shape, offsets[0], offsets[1]
