"""Driver for `parallel-vocab-embedding`: the same code runs the reference and the submission.

A case describes one world of `w` ranks over a vocabulary of `v` ids. For every rank listed in
`ranks` (default: all of them) it builds ParallelVocabEmbedding(vocab_size=, emb_size=, rank=,
world_size=, process_group=None, init_mean=, init_std=, init_base_seed=, dtype=float32,
device=<param device>) by keyword, as the course's tests do, and looks up int64 ids [b, s] drawn
from [0, v) (every shard boundary id forced in when `edges`; or the case's explicit `ids`):

* rank{r} / rank{r}_second_call: the same ids twice;
* rank{r}_other: a second batch of another shape [b2, s2];
* rank{r}_after_reset: the global RNG is moved on, reset_parameters() is called, ids again;
* sum_over_ranks (all ranks built only): the sum of the ranks' first results.

param_device / ids_device "case" mean the case's device, "cpu" the CPU (cuda cases mix them).
"""

from dataclasses import dataclass
from typing import Literal

import torch

from sandbox import kit


@dataclass(frozen=True)
class Params:
    v: int
    e: int
    w: int
    ranks: tuple[int, ...] = ()
    b: int = 0
    s: int = 0
    ids: tuple[int, ...] = ()
    edges: bool = True
    b2: int = 1
    s2: int = 3
    init_mean: float = 0.0
    init_std: float = 1.0
    init_base_seed: int = 42
    param_device: Literal["case", "cpu"] = "case"
    ids_device: Literal["case", "cpu"] = "case"


def _device(side: str, case) -> str:
    return case.device if side == "case" else "cpu"


def _ranks(p: Params) -> tuple[int, ...]:
    return p.ranks or tuple(range(p.w))


def generate_inputs(case, seed: int) -> dict:
    p, r = kit.params(Params, case), kit.rng(case, seed)
    kit.require(p.v % p.w == 0 and all(0 <= k < p.w for k in _ranks(p)),
                f"case {case.name}: v must be a multiple of w and ranks in [0, w)")
    if p.ids:
        ids = torch.tensor(p.ids, dtype=torch.int64).reshape(1, -1)
    else:
        ids = r.randint(0, p.v, p.b, p.s, place=False)
        if p.edges:  # the first and last id of every shard occur (where there is room)
            n, flat = p.v // p.w, ids.view(-1)
            bounds = sorted({x for k in range(p.w) for x in (k * n, k * n + n - 1)})
            for x, pos in zip(bounds, r.randperm(flat.numel()).tolist(), strict=False):
                flat[pos] = x
    other = r.randint(0, p.v, p.b2, p.s2, place=False)
    dev = _device(p.ids_device, case)
    return {"input_ids": ids.to(dev), "input_ids_other": other.to(dev)}


def _build(sub, case, rank: int):
    p = kit.params(Params, case)
    module = sub.ParallelVocabEmbedding(
        vocab_size=p.v, emb_size=p.e, rank=rank, world_size=p.w, process_group=None,
        init_mean=p.init_mean, init_std=p.init_std, init_base_seed=p.init_base_seed,
        dtype=torch.float32, device=_device(p.param_device, case))
    return kit.instance(module, torch.nn.Module, f"ParallelVocabEmbedding(rank={rank}, ...)")


def _lookup(module, ids, what: str) -> torch.Tensor:
    return kit.snap(kit.tensor(module(ids), what))


def run(sub, inputs: dict, case) -> dict:
    p = kit.params(Params, case)
    ids, other = inputs["input_ids"], inputs["input_ids_other"]
    outs: dict = {}
    for rank in _ranks(p):
        module = _build(sub, case, rank)
        outs[f"rank{rank}"] = _lookup(module, ids, f"rank {rank}'s first lookup")
        outs[f"rank{rank}_second_call"] = _lookup(module, ids, f"rank {rank}'s second lookup")
        outs[f"rank{rank}_other"] = _lookup(module, other, f"rank {rank}'s lookup of the second batch")
        # Move every generator on, so only a reset that re-seeds draws the same shard.
        torch.manual_seed(case.seed + 7919 + rank)
        torch.rand(97)
        if torch.cuda.is_available():
            torch.rand(97, device="cuda")
        module.reset_parameters()
        outs[f"rank{rank}_after_reset"] = _lookup(module, ids, f"rank {rank}'s lookup after reset_parameters()")
        del module
    if not p.ranks:
        first = [outs[f"rank{k}"] for k in range(p.w)]
        if len({(t.shape, t.dtype, t.device) for t in first}) == 1:
            outs["sum_over_ranks"] = torch.stack(first).sum(0)
    return outs


def timed(sub, inputs: dict, case):
    # One rank's shard is built once, outside the timed region; its lookup alone is timed.
    module, ids = _build(sub, case, _ranks(kit.params(Params, case))[0]), inputs["input_ids"]
    return lambda: module(ids)
