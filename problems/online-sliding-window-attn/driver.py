"""Driver for `online-sliding-window-attn`: the same code runs the reference and the submission.

Each case builds one OnlineSlidingWindowAttn the way the course's grader builds it (every
argument by keyword, float32 parameters on the case's device) and drives it over a schedule of
block pairs, calling it as the grader does:

    module(q_blk, k_blk, v_blk, global_o=global_o, global_lse=global_lse,
           block_idx_q=i, block_idx_kv=j)

q, k, v are standard-normal [b, sq, hq, hd] / [b, skv, hkv, hd] tensors in the case's dtype,
zero-padded at the end of the sequence dimension to whole blocks (as the grader pads them);
each call gets a fresh copy of its blocks. global_o ([b, sq, hq, hd], the case's dtype) and
global_lse ([b, hq, sq], float32) are the driver's own buffers, updated in place by the calls.
Every case starts them from the course grader's partially-updated state, a standard-normal
global_o and a global_lse uniform in [0, 1), never from the documented start (zeros and -inf):
the course's grader never merges into a running lse of -inf, so a check from there would reject
code the course accepts (a stricter problem of our own could add one).

schedule "single" makes one call, for the block pair (bqi, bkvj) (the course grader's cases);
"rows", "columns" and "random" traverse every block pair row-major, column-major or in a seeded
random order. Outputs: the final global_o and global_lse, the same two after each step listed
in `snapshots` (global_o_after_step3, ...), and online_subclasses_offline (1 when
OnlineSlidingWindowAttn is a subclass of OfflineSlidingWindowAttn, which the grader asserts).
"""

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from sandbox import kit


@dataclass(frozen=True)
class Params:
    b: int
    sq: int
    skv: int
    hq: int
    hkv: int
    hd: int
    bq: int  # block_size_q
    bkv: int  # block_size_kv
    window_size: int | None = None
    causal: bool = False
    softmax_scale: float | None = None
    softmax_cap: float | None = None
    softmax_temp: float = 1.0
    apply_qk_norm: bool = False
    group_size: int | None = None
    eps: float = 1e-5
    init_range: tuple[float, float] = (-1.0, 1.0)
    init_seed: int = 42
    schedule: Literal["single", "rows", "columns", "random"] = "rows"
    bqi: int = 0  # the block pair of schedule "single"
    bkvj: int = 0
    snapshots: tuple[int, ...] = ()  # steps (0-based) after which the partial state is reported
    # keyword: every argument by keyword, as the course's grader; defaults: the seven sizes,
    # dtype= and device= only (the template's defaults for the rest)
    call: Literal["keyword", "defaults"] = "keyword"

    def __post_init__(self) -> None:
        kit.require(min(self.b, self.sq, self.skv, self.hq, self.hkv, self.hd, self.bq, self.bkv) >= 1,
                    "sizes must be positive")
        kit.require(self.hq % self.hkv == 0, "hq must be a multiple of hkv")
        kit.require(self.group_size is None or self.hd % self.group_size == 0, "group_size must divide hd")
        kit.require(self.window_size is None or self.window_size >= 1, "window_size must be None or positive")
        kit.require(self.softmax_temp > 0, "softmax_temp must be positive")
        kit.require(self.softmax_cap is None or self.softmax_cap > 0, "softmax_cap must be positive")
        kit.require(self.softmax_scale is None or self.softmax_scale > 0, "softmax_scale must be positive")
        nq, nk = _blocks(self.sq, self.bq), _blocks(self.skv, self.bkv)
        kit.require(0 <= self.bqi < nq and 0 <= self.bkvj < nk, "bqi / bkvj out of range")
        steps = 1 if self.schedule == "single" else nq * nk
        kit.require(all(0 <= s < steps for s in self.snapshots), "a snapshot step is out of range")
        defaults = (self.window_size, self.causal, self.softmax_scale, self.softmax_cap, self.softmax_temp,
                    self.apply_qk_norm, self.group_size, self.eps, self.init_range, self.init_seed)
        kit.require(self.call != "defaults" or defaults == (None, False, None, None, 1.0, False, None, 1e-5,
                                                            (-1.0, 1.0), 42),
                    "call='defaults' needs the template's default settings")


def _blocks(n: int, size: int) -> int:
    return -(-n // size)


def generate_inputs(case, seed: int) -> dict:
    p, r = kit.params(Params, case), kit.rng(case, seed)
    f32 = torch.float32
    res = {
        "q": r.randn(p.b, p.sq, p.hq, p.hd, draw=f32),
        "k": r.randn(p.b, p.skv, p.hkv, p.hd, draw=f32),
        "v": r.randn(p.b, p.skv, p.hkv, p.hd, draw=f32),
    }
    res["global_o_start"] = r.randn(p.b, p.sq, p.hq, p.hd, draw=f32)
    res["global_lse_start"] = r.rand(p.b, p.hq, p.sq, draw=f32, dtype=f32)
    nq, nk = _blocks(p.sq, p.bq), _blocks(p.skv, p.bkv)
    if p.schedule == "single":
        pairs = [(p.bqi, p.bkvj)]
    elif p.schedule == "columns":
        pairs = [(i, j) for j in range(nk) for i in range(nq)]
    else:
        pairs = [(i, j) for i in range(nq) for j in range(nk)]
        if p.schedule == "random":
            pairs = [pairs[t] for t in r.randperm(len(pairs)).tolist()]
    res["schedule"] = torch.tensor(pairs, dtype=torch.int64)  # [steps, 2], on the CPU
    return res


def _build(sub, case):
    p = kit.params(Params, case)
    sizes = dict(seqlen_q=p.sq, seqlen_kv=p.skv, block_size_q=p.bq, block_size_kv=p.bkv, head_dim=p.hd,
                 num_q_head=p.hq, num_kv_head=p.hkv)
    if p.call == "defaults":
        return sub.OnlineSlidingWindowAttn(**sizes, dtype=torch.float32, device=case.device)
    return sub.OnlineSlidingWindowAttn(
        **sizes,
        window_size=p.window_size,
        causal=p.causal,
        softmax_scale=p.softmax_scale,
        softmax_cap=p.softmax_cap,
        softmax_temp=p.softmax_temp,
        apply_qk_norm=p.apply_qk_norm,
        group_size=p.group_size,
        eps=p.eps,
        init_range=p.init_range,
        init_seed=p.init_seed,
        dtype=torch.float32,
        device=case.device,
    )


class _Replay:
    """The padded q / k / v, the schedule, and fresh global buffers for one traversal."""

    def __init__(self, inputs: dict, case) -> None:
        p = kit.params(Params, case)
        self.p, self.inputs = p, inputs
        pad_q = _blocks(p.sq, p.bq) * p.bq - p.sq
        pad_kv = _blocks(p.skv, p.bkv) * p.bkv - p.skv
        self.q = F.pad(inputs["q"], (0, 0, 0, 0, 0, pad_q))
        self.k = F.pad(inputs["k"], (0, 0, 0, 0, 0, pad_kv))
        self.v = F.pad(inputs["v"], (0, 0, 0, 0, 0, pad_kv))
        self.pairs = [tuple(pair) for pair in inputs["schedule"].tolist()]

    def start(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inputs["global_o_start"].clone(), self.inputs["global_lse_start"].clone()

    def step(self, module, global_o, global_lse, i: int, j: int) -> None:
        bq, bkv = self.p.bq, self.p.bkv
        module(
            self.q[:, i * bq:(i + 1) * bq].clone(),
            self.k[:, j * bkv:(j + 1) * bkv].clone(),
            self.v[:, j * bkv:(j + 1) * bkv].clone(),
            global_o=global_o,
            global_lse=global_lse,
            block_idx_q=i,
            block_idx_kv=j,
        )


def _subclasses(sub) -> int:
    online, offline = sub.OnlineSlidingWindowAttn, sub.OfflineSlidingWindowAttn
    return int(isinstance(online, type) and isinstance(offline, type) and issubclass(online, offline))


def run(sub, inputs: dict, case) -> dict:
    replay = _Replay(inputs, case)
    module = _build(sub, case)
    global_o, global_lse = replay.start()
    outs: dict = {}
    for step, (i, j) in enumerate(replay.pairs):
        replay.step(module, global_o, global_lse, i, j)
        if step in replay.p.snapshots:
            outs[f"global_o_after_step{step}"] = kit.snap(global_o)
            outs[f"global_lse_after_step{step}"] = kit.snap(global_lse)
    outs["global_o"] = kit.snap(global_o)
    outs["global_lse"] = kit.snap(global_lse)
    outs["online_subclasses_offline"] = kit.ints(_subclasses(sub), case)
    return outs


def timed(sub, inputs: dict, case):
    # The module and the padded inputs are built once; each timed call is one whole traversal
    # of the schedule into fresh global buffers.
    replay, module = _Replay(inputs, case), _build(sub, case)

    def traverse() -> torch.Tensor:
        global_o, global_lse = replay.start()
        for i, j in replay.pairs:
            replay.step(module, global_o, global_lse, i, j)
        return global_o

    return traverse
