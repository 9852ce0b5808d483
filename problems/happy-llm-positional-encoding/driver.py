"""Driver for `happy-llm-positional-encoding`: the same code runs the reference and the submission.

Each case builds one PositionalEncoding(args), with `args` a ModelArgs holding the tutorial's
fields (n_embd and block_size from the case, dropout from the case, the others consistent), moves
it to the case's device and, when the case says so, puts it in eval mode. Then it calls the module
once per entry of `seqs` on a fresh input [b, seq_len, n_embd] and returns:

* out0, out1, ...: each call's result; grad0: the gradient of sum(out0 * upstream) with respect
  to the first input (the table itself must not be trained);
* pe: the module's `pe` after the calls (shape [1, block_size, n_embd]);
* buffers: [1 if the module's buffers are exactly `pe`, number of state_dict entries, number of
  parameters] (the tutorial's: [1, 1, 0]).
"""

from dataclasses import dataclass

import torch

from sandbox import kit


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
    n_embd: int
    block_size: int
    seqs: tuple[int, ...]         # the sequence length of each successive call
    dropout: float = 0.0
    eval: bool = False            # module.eval() before the calls


def generate_inputs(case, seed: int) -> dict:
    p, r = kit.params(Params, case), kit.rng(case, seed)
    kit.require(p.n_embd % 2 == 0 and p.seqs and all(1 <= s <= p.block_size for s in p.seqs),
                f"case {case.name}: n_embd must be even and 1 <= seq_len <= block_size")
    inputs = {f"x{k}": r.randn(p.b, s, p.n_embd, draw=torch.float32) for k, s in enumerate(p.seqs)}
    inputs["upstream"] = r.randn(p.b, p.seqs[0], p.n_embd, draw=torch.float32)
    return inputs


def _args(p: Params) -> ModelArgs:
    return ModelArgs(n_embd=p.n_embd, n_heads=1, dim=p.n_embd, dropout=p.dropout,
                     max_seq_len=p.block_size, vocab_size=1000, block_size=p.block_size, n_layer=2)


def _build(sub, case):
    p = kit.params(Params, case)
    module = kit.instance(sub.PositionalEncoding(_args(p)), torch.nn.Module, "PositionalEncoding(args)")
    module = module.to(case.device)  # the tutorial builds on the CPU and moves the model
    return module.eval() if p.eval else module


def _result(module, x, what: str) -> torch.Tensor:
    return kit.tensor(module(x), what, shape=x.shape)


def run(sub, inputs: dict, case) -> dict:
    p = kit.params(Params, case)
    module = _build(sub, case)
    x0 = inputs["x0"].detach().clone().requires_grad_(True)
    out0 = _result(module, x0, "PositionalEncoding.forward's result (call 0)")
    (grad0,) = torch.autograd.grad((out0 * inputs["upstream"]).sum(), (x0,))
    outs = {"out0": kit.snap(out0), "grad0": kit.snap(grad0)}
    for k in range(1, len(p.seqs)):
        outs[f"out{k}"] = kit.snap(_result(module, inputs[f"x{k}"], f"PositionalEncoding.forward's result (call {k})"))
    pe = kit.tensor(kit.attr(module, "pe", "PositionalEncoding"), "PositionalEncoding.pe")
    buffer_names = [name for name, _ in module.named_buffers()]
    outs["pe"] = kit.snap(pe)
    outs["buffers"] = kit.ints([int(buffer_names == ["pe"]), len(module.state_dict()),
                                len(list(module.parameters()))], case)
    return outs


def timed(sub, inputs: dict, case):
    # The module (and its table) is built once, outside the timed region; one forward is timed.
    module, x = _build(sub, case), inputs["x0"]
    return lambda: module(x)
