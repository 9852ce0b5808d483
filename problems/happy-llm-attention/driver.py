"""Driver for `happy-llm-attention`: the same code runs the reference and the submission.

Each case builds one MultiHeadAttention(args, is_causal=...) with `args` a ModelArgs holding the
tutorial's fields, moves it to the case's device (eval mode when the case says so), overwrites
the weights of wq, wk, wv and wo with seeded values, and calls forward(q, k, v) twice, each time
on fresh leaf copies of the inputs:

* inputs "self": q = k = v = one tensor x (the encoder's attention(x, x, x)); "cross": q = x and
  k = v = enc (the decoder's attention(x, enc_out, enc_out)); "distinct": three tensors;
* output, and the gradients of sum(output * upstream) with respect to each distinct input
  (grad_x, grad_enc, grad_q/grad_k/grad_v) and to the four weights (grad_wq, ..., grad_wo);
  the second call's results end in _second_call;
* parameter_count: how many parameters the module has (the tutorial's four bias-free weights).
"""

import math
from dataclasses import dataclass
from typing import Literal

import torch

from sandbox import kit

PROJECTIONS = ("wq", "wk", "wv", "wo")


@dataclass
class ModelArgs:
    """The tutorial's configuration object: the same field names, in the same order."""

    n_embd: int
    n_heads: int
    dim: int
    dropout: float
    max_seq_len: int
    vocab_size: int
    block_size: int
    n_layer: int


@dataclass(frozen=True)
class Params:
    b: int
    s: int
    dim: int
    n_heads: int
    n_embd: int | None = None     # None: n_embd = dim, as in the tutorial's configuration
    max_seq_len: int | None = None  # None: max_seq_len = s
    causal: bool = False
    inputs: Literal["self", "cross", "distinct"] = "self"
    dropout: float = 0.0
    eval: bool = False
    grads: bool = True


def _sizes(p: Params) -> tuple[int, int]:
    return (p.n_embd or p.dim), (p.max_seq_len or p.s)


def generate_inputs(case, seed: int) -> dict:
    p, r = kit.params(Params, case), kit.rng(case, seed)
    n_embd, max_seq_len = _sizes(p)
    kit.require(p.dim % p.n_heads == 0 and p.s <= max_seq_len,
                f"case {case.name}: dim must be a multiple of n_heads and s <= max_seq_len")
    names = {"self": ("x",), "cross": ("x", "enc"), "distinct": ("q", "k", "v")}[p.inputs]
    inputs = {n: r.randn(p.b, p.s, n_embd, draw=torch.float32) for n in names}
    # nn.Linear's own scale (1/sqrt(fan_in)) keeps the scores of order one
    for name, fan_in, fan_out in (("wq", n_embd, p.dim), ("wk", n_embd, p.dim),
                                  ("wv", n_embd, p.dim), ("wo", p.dim, p.dim)):
        inputs[f"{name}_weight"] = r.randn(fan_out, fan_in, scale=1 / math.sqrt(fan_in), draw=torch.float32)
    if p.grads:
        inputs["upstream"] = r.randn(p.b, p.s, p.dim, draw=torch.float32)
    return inputs


def _build(sub, case, inputs: dict):
    p = kit.params(Params, case)
    n_embd, max_seq_len = _sizes(p)
    args = ModelArgs(n_embd=n_embd, n_heads=p.n_heads, dim=p.dim, dropout=p.dropout,
                     max_seq_len=max_seq_len, vocab_size=1000, block_size=max_seq_len, n_layer=2)
    module = sub.MultiHeadAttention(args, is_causal=p.causal)
    kit.instance(module, torch.nn.Module, "MultiHeadAttention(args, is_causal=...)")
    module = module.to(case.device)  # the tutorial builds on the CPU and moves the model
    if p.eval:
        module.eval()
    with torch.no_grad():
        for name in PROJECTIONS:
            _weight(module, name).copy_(inputs[f"{name}_weight"])
    return module


def _weight(module, name: str) -> torch.Tensor:
    layer = kit.attr(module, name, "MultiHeadAttention")
    return kit.tensor(kit.attr(layer, "weight", f"MultiHeadAttention.{name}"), f"MultiHeadAttention.{name}.weight")


def _qkv(inputs: dict, p: Params, leaves: dict):
    if p.inputs == "self":
        return leaves["x"], leaves["x"], leaves["x"]
    if p.inputs == "cross":
        return leaves["x"], leaves["enc"], leaves["enc"]
    return leaves["q"], leaves["k"], leaves["v"]


def _step(module, inputs: dict, p: Params) -> dict:
    names = {"self": ("x",), "cross": ("x", "enc"), "distinct": ("q", "k", "v")}[p.inputs]
    leaves = {n: inputs[n].detach().clone().requires_grad_(p.grads) for n in names}
    out = module(*_qkv(inputs, p, leaves))
    out = kit.tensor(out, "MultiHeadAttention.forward's result", shape=(p.b, p.s, p.dim))
    if not p.grads:
        return {"output": out}
    wrt = [leaves[n] for n in names] + [_weight(module, n) for n in PROJECTIONS]
    grads = kit.grads(out, inputs["upstream"], wrt)  # zeros where the output does not depend
    labels = [f"grad_{n}" for n in names] + [f"grad_{n}" for n in PROJECTIONS]
    return {"output": out, **dict(zip(labels, grads, strict=True))}


def run(sub, inputs: dict, case) -> dict:
    p = kit.params(Params, case)
    module = _build(sub, case, inputs)
    outs = kit.call_twice(lambda: _step(module, inputs, p), lambda got, _which: got)
    outs["parameter_count"] = kit.ints(len(list(module.parameters())), case)
    return outs


def timed(sub, inputs: dict, case):
    # The module is built once, outside the timed region; one forward (no gradients) is timed.
    p = kit.params(Params, case)
    module = _build(sub, case, inputs)
    q, k, v = _qkv(inputs, p, inputs)
    return lambda: module(q, k, v)
