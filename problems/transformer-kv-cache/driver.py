"""Driver for `transformer-kv-cache`: the same code runs the reference and the submission.

One TransformerDecoderKVCache is built the way the course's grader builds it
(`TransformerDecoderKVCache(qkv_layout=<the submission's AttnQKVLayout member>, num_layers=n)`)
and a script of operations is replayed on it, one after the other:

    "set L S" / "append L S"        k and v of S new positions for layer L (BSHD: [b, S, nh, hd],
                                    SBHD: [S, b, nh, hd])
    "set L 5+3+4" / "append L 5+3+4" THD: k and v of [12, nh, hd] with cu_seqlens [0, 5, 8, 12]
                                    (int32), inner sequences of 5, 3 and 4 positions
    "has L"                         output op<i>_has: 1 or 0
    "get L"                         outputs op<i>_k, op<i>_v (snapshotted when get returns them),
                                    op<i>_cu (when cu_seqlens is not None) and op<i>_cu_none
    "reset"

The keys and values are standard normal draws of the case's dtype on the case's device, one pair
per set/append in script order, made from the seed passed as the `seed` input (generated here
so that course-scale scripts do not send hundreds of megabytes of inputs back for the mutation
check). Every value `get` returns is compared when it is returned, as the course does.
"""

from dataclasses import dataclass
from typing import Literal

import torch

from sandbox import kit


@dataclass(frozen=True)
class Params:
    layout: Literal["bshd", "sbhd", "thd"]
    num_layers: int
    b: int  # batch size (1 with THD)
    nh: int
    hd: int
    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        if min(self.num_layers, self.b, self.nh, self.hd) < 1:
            raise ValueError("num_layers, b, nh and hd must be positive")
        if self.layout == "thd" and self.b != 1:
            raise ValueError("THD scripts have b = 1")
        for op in self.ops:
            _parse(op, self)


def _parse(op: str, p: Params) -> tuple[str, int, tuple[int, ...]]:
    """(name, layer, lengths): lengths is (S,) or THD's inner lengths, () for has/get/reset."""
    parts = op.split()
    name = parts[0] if parts else ""
    if name == "reset" and len(parts) == 1:
        return name, -1, ()
    if name in ("has", "get") and len(parts) == 2:
        layer = int(parts[1])
        lengths: tuple[int, ...] = ()
    elif name in ("set", "append") and len(parts) == 3:
        layer, lengths = int(parts[1]), tuple(int(n) for n in parts[2].split("+"))
        if p.layout != "thd" and len(lengths) != 1:
            raise ValueError(f"{op!r}: only THD scripts give inner sequence lengths")
        if min(lengths) < 1:
            raise ValueError(f"{op!r}: lengths must be positive")
    else:
        raise ValueError(f"{op!r} is not an operation")
    if not 0 <= layer < p.num_layers:
        raise ValueError(f"{op!r}: layer outside [0, num_layers)")
    return name, layer, lengths


def generate_inputs(case, seed: int) -> dict:
    return {"seed": torch.tensor([seed % 2**62], dtype=torch.int64)}


def _tensors(p: Params, case, seed: int) -> list:
    """(k, v, cu_seqlens) per op (None for has/get/reset), drawn in script order."""
    r = kit.rng(case, seed)
    out: list = []
    for op in p.ops:
        name, _layer, lengths = _parse(op, p)
        if name not in ("set", "append"):
            out.append(None)
            continue
        s = sum(lengths)
        shape = {"bshd": (p.b, s, p.nh, p.hd), "sbhd": (s, p.b, p.nh, p.hd), "thd": (s, p.nh, p.hd)}[p.layout]
        k = r.randn(*shape, draw=torch.float32)
        v = r.randn(*shape, draw=torch.float32)
        cu = None
        if p.layout == "thd":
            cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32, device=case.device)
        out.append((k, v, cu))
    return out


def _build(sub, p: Params):
    layout = kit.attr(sub.AttnQKVLayout, p.layout.upper(), "AttnQKVLayout")
    return sub.TransformerDecoderKVCache(qkv_layout=layout, num_layers=p.num_layers)


def _replay(sub, p: Params, case, tensors: list, record: bool) -> dict:
    cache = _build(sub, p)
    res: dict = {}
    for i, (op, t) in enumerate(zip(p.ops, tensors, strict=True)):
        name, layer, _ = _parse(op, p)
        tag = f"op{i:02d}"
        if name == "reset":
            cache.reset()
        elif name == "has":
            got = bool(cache.has(layer))
            if record:
                res[f"{tag}_has"] = kit.ints(int(got), case)
        elif name == "get":
            k, v, cu = kit.sequence(cache.get(layer), 3, f"get({layer}) (the {i + 1}-th operation)")
            if record:
                res[f"{tag}_k"] = kit.snap(kit.tensor(k, f"k from get({layer}) (operation {i + 1})"))
                res[f"{tag}_v"] = kit.snap(kit.tensor(v, f"v from get({layer}) (operation {i + 1})"))
                res[f"{tag}_cu_none"] = kit.ints(int(cu is None), case)
                if cu is not None:
                    res[f"{tag}_cu"] = kit.snap(kit.tensor(cu, f"cu_seqlens from get({layer}) (operation {i + 1})"))
        else:
            k, v, cu = t
            getattr(cache, name)(layer, k, v, cu_seqlens=cu)
    return res


def run(sub, inputs: dict, case) -> dict:
    p = kit.params(Params, case)
    return _replay(sub, p, case, _tensors(p, case, int(inputs["seed"][0])), record=True)


def timed(sub, inputs: dict, case):
    p = kit.params(Params, case)
    tensors = _tensors(p, case, int(inputs["seed"][0]))  # drawn outside the timed calls
    return lambda: _replay(sub, p, case, tensors, record=False)
