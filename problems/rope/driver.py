"""Driver for `rope`: the same code runs the reference and the submission.

* kind "apply": apply_rotary_pos_emb(input=, cos=, sin=) once. input [b, s, nh, hd] is standard
  normal; cos/sin are genuine RoPE tables (base 10000, half-split layout cat(freqs, freqs)) for
  positions start.. (start drawn from [0, max_pos)), computed in float64, rounded to float32,
  then cast to table_dtype (default: the case dtype).
* kind "module": one NTKAwareRoPE(dim=, max_seq_len=, base=, ratio=, dynamic=, dtype=float32,
  device=case.device), called once per [seq_len, offset] in `calls` on a fresh standard-normal
  input [b, seq_len, nh, dim]. Returns out0, out1, ... and then the module's state:
  table_rows ([min, max] row count of the [L, dim] buffers: max_seq_len * current ratio),
  state_dict_entries (the tables must be non-persistent) and buffers_on_device (1 or 0).
"""

from dataclasses import dataclass
from typing import Literal

import torch

from sandbox import kit


@dataclass(frozen=True)
class Params:
    kind: Literal["apply", "module"]
    b: int
    nh: int
    s: int = 0  # apply
    hd: int = 0
    table_dtype: Literal["float32", "float64", "float16", "bfloat16"] | None = None
    max_pos: int = 512
    dim: int = 0  # module
    max_seq_len: int = 0
    base: int | float = 10000
    ratio: int | float = 1
    dynamic: bool = False
    calls: tuple[tuple[int, int], ...] = ()


def generate_inputs(case, seed: int) -> dict:
    p, r = kit.params(Params, case), kit.rng(case, seed)
    if p.kind == "module":
        return {f"x{k}": r.randn(p.b, seq_len, p.nh, p.dim, draw=torch.float32)
                for k, (seq_len, _offset) in enumerate(p.calls)}
    x = r.randn(p.b, p.s, p.nh, p.hd, draw=torch.float32)
    start = r.integer(0, p.max_pos)  # tables in float64, rounded to float32, then to table_dtype
    inv_freq = 10000.0 ** (-torch.arange(0, p.hd, 2, dtype=torch.float64) / p.hd)
    angles = torch.outer(torch.arange(start, start + p.s, dtype=torch.float64), inv_freq).repeat(1, 2)
    cos, sin = angles.cos().to(torch.float32), angles.sin().to(torch.float32)
    table_dtype = kit.DTYPES[p.table_dtype] if p.table_dtype else case.dtype
    return {"input": x, "cos": r.place(cos, table_dtype), "sin": r.place(sin, table_dtype)}


def _build_module(sub, case):
    p = kit.params(Params, case)  # every argument by keyword, as the course's transformer builds it
    module = sub.NTKAwareRoPE(dim=p.dim, max_seq_len=p.max_seq_len, base=p.base, ratio=p.ratio,
                              dynamic=p.dynamic, dtype=torch.float32, device=case.device)
    return kit.instance(module, torch.nn.Module, "NTKAwareRoPE(...)")


def _module_state(module, case) -> dict:
    dim, buffers = kit.params(Params, case).dim, [b for _, b in module.named_buffers()]
    # A table is a buffer [L, dim], leading size-1 dimensions tolerated: its rows are numel // dim.
    rows = [int(b.numel() // dim) for b in buffers if b.dim() >= 2 and b.shape[-1] == dim]
    if not rows:
        raise kit.WrongAnswer(f"NTKAwareRoPE keeps no buffer of shape [L, {dim}]: the cos/sin tables "
                              "must be registered with register_buffer(..., persistent=False)")
    on_device = all(b.device.type == torch.device(case.device).type for b in buffers)
    return {"table_rows": kit.ints([min(rows), max(rows)], case),
            "state_dict_entries": kit.ints(len(module.state_dict()), case),
            "buffers_on_device": kit.ints(int(on_device), case)}


def _apply(sub, inputs: dict, case):
    return sub.apply_rotary_pos_emb(input=inputs["input"], cos=inputs["cos"], sin=inputs["sin"])


def run(sub, inputs: dict, case) -> dict:
    p = kit.params(Params, case)
    if p.kind == "apply":
        x, cos = inputs["input"], inputs["cos"]
        out = kit.snap(kit.tensor(_apply(sub, inputs, case), "apply_rotary_pos_emb's result"))
        if cos.dtype != x.dtype and out.dtype == torch.promote_types(x.dtype, cos.dtype):
            # float32 tables with a half-precision input: the course's reference returns the
            # promoted dtype (it never casts back) and the course never tests this pairing on
            # its own, so the promoted result is accepted too, rounded to the input's dtype.
            out = out.to(x.dtype)
        return {"out": out}
    module = _build_module(sub, case)
    # Each output is copied right away, so a later call that reuses an output buffer shows up.
    results = {f"out{k}": kit.snap(kit.tensor(module(inputs[f"x{k}"], offset), f"NTKAwareRoPE.forward (call {k})"))
               for k, (_seq_len, offset) in enumerate(p.calls)}
    return {**results, **_module_state(module, case)}


def timed(sub, inputs: dict, case):
    p = kit.params(Params, case)
    if p.kind == "apply":
        return kit.timed(_apply)(sub, inputs, case)
    # The module is built once, outside the timed region; the first call is what is timed.
    # With dynamic = false and a call past the table, every call rebuilds its tables.
    module, x = _build_module(sub, case), inputs["x0"]
    return lambda: module(x, p.calls[0][1])
