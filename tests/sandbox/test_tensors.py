"""The tensor frame: what the case child writes, safetensors readers read, and what the outside
makes of an untrusted frame."""

from __future__ import annotations

import json

import pytest
import safetensors.torch as st
import torch

from sandbox import tensors
from sandbox.framing import ProtocolError

CASE = {
    "out.y": torch.randn(3, 4),
    "out.half": torch.randn(5, dtype=torch.bfloat16),  # odd byte length before wider ones
    "out.mask": torch.tensor([True, False, True]),
    "out.ids": torch.arange(7),
    "out.none": torch.empty(0, 3),
    "out.scalar": torch.tensor(2.5, dtype=torch.float16),
    "in.x": torch.randn(2, 3, dtype=torch.float64)[:, ::2],  # not contiguous
}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(
        a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and torch.equal(a[k], b[k]) for k in a)


def test_the_frame_is_safetensors_both_ways() -> None:
    frame = tensors.dumps(CASE)
    assert tensors.size(tensors.parts(CASE)) == len(frame)
    assert _same(st.load(frame), CASE)  # what the child writes, the library reads
    packed = {k: v.contiguous() for k, v in CASE.items()}
    assert _same(tensors.load(bytearray(st.save(packed))), CASE)  # and the other way round
    assert _same(tensors.load(frame), CASE)  # read-only bytes: copies


def test_loaded_tensors_are_views_of_a_writable_buffer() -> None:
    buf = bytearray(tensors.dumps({"out.y": torch.zeros(4)}))
    y = tensors.load(buf)["out.y"]
    buf[-4:] = torch.tensor([7.0]).numpy().tobytes()
    assert y[-1].item() == 7.0  # no copy was made


def _frame(header: object, data: bytes = b"") -> bytearray:
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)  # the data starts 8-aligned, as safetensors lays it out
    return bytearray(len(raw).to_bytes(8, "little") + raw + data)


@pytest.mark.parametrize("frame, why", [
    (bytearray(b"\x01\x00"), "truncated"),
    (bytearray((1 << 40).to_bytes(8, "little") + b"{}"), "malformed header"),
    (bytearray((2).to_bytes(8, "little") + b"[]"), "malformed header"),
    (_frame({"y": {"dtype": "Q9", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4), "unknown dtype"),
    (_frame({"y": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4), "malformed shape"),
    (_frame({"y": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4), "outside the frame"),
    (_frame({"y": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8), "does not match"),
    (_frame({"y": "F32"}), "malformed entry"),
])
def test_a_malformed_frame_is_a_protocol_error(frame: bytearray, why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        tensors.load(frame)


def test_a_misaligned_tensor_is_copied_not_viewed() -> None:
    # A hostile child may place a float32 at an odd offset: it still loads, as a copy.
    data = b"\0" + torch.tensor([1.5, -2.0]).numpy().tobytes()
    buf = _frame({"pad": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},
                  "y": {"dtype": "F32", "shape": [2], "data_offsets": [1, 9]}}, data)
    assert (8 + int.from_bytes(buf[:8], "little") + 1) % 4 == 1  # the float32 really is misaligned
    y = tensors.load(buf)["y"]
    assert y.tolist() == [1.5, -2.0] and y.data_ptr() % 4 == 0
