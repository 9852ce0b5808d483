"""Driver for `transformer-decoder-block`: the same code runs the reference and the submission.

The config is the submission's own TransformerConfig, built with the course's field names from
the case's params (enum fields from the submission's enums; param_device: the case's device);
the block is `TransformerDecoderBlock(config)`, put in training or eval mode, as the course's
grader does. Outputs:

* `logits`: block(input_ids, cu_seqlens=...) once; input_ids int32 [b, s] (the course's dtype),
  on the case's device or on the CPU (input_device = "cpu"); cu_seqlens int32 for THD. With
  past > 0 the block first gets `set_kv_cache(cache)`: the submission's TransformerDecoderKVCache
  with past keys and values `set` for every layer, as the course prepares it.
* `step<t>` (steps > 0, eval mode): a generation loop on the same block and cache: after the
  prefill above, one new token per (inner) sequence at a time (ids drawn in advance, so every
  step's input is the same for everyone): logits [b, 1, vocab] (THD: [1, n, vocab]).
* `reset_changed_params`: the course's reset check on the block (atol 1e-2 / rtol 5e-2).
* `cache_has` (eval mode): has(layer) for every layer of get_kv_cache() after the calls;
  `cache_has_after_reset`: the same object after reset_kv_cache() (the course's two checks).
* `num_parameters`: num_parameters(learnable_only, unit) for learnable_only in (True, False)
  and unit in ("1", "B", "M", "K"), float64; `memory_footprint`: num_memory_footprint(unit) for
  ("B", "KB", "MB", "GB"): compared with the course's tolerance, as the course compares them.
* diagnostics (never deciding the verdict): the submission's own ParallelVocabEmbedding,
  GroupRMSNorm, NTKAwareRoPE, attention and MLP, built as the block's first layer builds them.
"""

from dataclasses import dataclass
from typing import Literal

import torch

from sandbox import kit

COURSE_ATOL, COURSE_RTOL = 1e-2, 5e-2
PARAM_UNITS = ("1", "B", "M", "K")
MEMORY_UNITS = ("B", "KB", "MB", "GB")


@dataclass(frozen=True)
class Params:
    # the call
    b: int
    s: int
    seqlens: tuple[int, ...] | None = None  # THD: inner sequence lengths (b = 1, sum = s)
    past: int = 0  # cached positions before the call (per sequence: past_seqlens with THD)
    past_seqlens: tuple[int, ...] | None = None
    steps: int = 0  # decode steps after the first call (eval mode only), teacher-forced ids
    input_device: Literal["case", "cpu"] = "case"
    training: bool = False  # block.train() (no cache) or block.eval() (the block's cache)
    # TransformerConfig (the course's names; enum members by name)
    num_layers: int = 1
    hidden_size: int = 32
    ffh_size: int = 64
    max_seq_len: int = 64
    param_dtype: Literal["float32", "bfloat16"] = "float32"
    init_base_seed: int = 42
    vocab_size: int = 64
    vocab_init_mean: float = 0.0
    vocab_init_std: float = 1.0
    lm_head_tied: bool = False
    rope_base: int = 10000
    rope_ratio: int = 1
    rope_dynamic: bool = False
    group_size: int | None = None
    eps: float = 1e-5
    norm_init_range: tuple[float, float] = (-1.0, 1.0)
    proj_init_seed: int = 42
    proj_init_mean: float = 0.0
    proj_init_std: float = 1.0
    online_attn_block_size: int | None = None
    head_dim: int = 8
    num_q_head: int = 4
    num_kv_head: int = 2
    qkv_pack_format: Literal["QKV", "Q_KV", "Q_K_V"] = "Q_K_V"
    qkv_layout: Literal["BSHD", "SBHD", "THD"] = "BSHD"
    window_size: int | None = None
    causal: bool = False
    softmax_dropout_seed: int = 42
    softmax_scale: float | None = None
    softmax_cap: float | None = None
    softmax_temp: float = 1.0
    softmax_clip_range: tuple[float, float] = (0.0, 1.0)
    apply_qk_norm: bool = False
    qk_norm_group_size: int | None = None
    activation_type: Literal["RELU", "GELU", "SILU", "SIGMOID", "BILINEAR"] = "SILU"
    lora_rank: int = 0
    lora_alpha: float | None = None
    lora_dropout_seed: int = 42
    lora_init_base_seed: int = 42
    num_experts: int | None = None
    moe_topk: int = 1
    gate_init_mean: float = 0.0
    gate_init_std: float = 1.0

    def __post_init__(self) -> None:
        kit.require(self.num_layers >= 1, "num_layers must be positive")
        kit.require(not (self.training and (self.past or self.steps)), "training mode uses no cache")
        kit.require(self.online_attn_block_size is None or self.training, "online attention only in training mode")
        kit.require(self.num_q_head % self.num_kv_head == 0, "num_kv_head must divide num_q_head")
        kit.require(self.group_size is None or self.hidden_size % self.group_size == 0,
                    "group_size must divide hidden_size")
        thd = self.qkv_layout == "THD"
        kit.require(thd == (self.seqlens is not None), "seqlens are given exactly for THD")
        kit.require(not thd or (self.b == 1 and sum(self.seqlens) == self.s), "THD: b = 1 and sum(seqlens) = s")
        kit.require(not (thd and self.past) or (self.past_seqlens is not None
                                                and len(self.past_seqlens) == len(self.seqlens)
                                                and sum(self.past_seqlens) == self.past), "THD past needs past_seqlens")
        if thd:
            pasts = self.past_seqlens or (0,) * len(self.seqlens)
            longest = max(a + b for a, b in zip(pasts, self.seqlens, strict=True)) + self.steps
        else:
            longest = self.past + self.s + self.steps
        kit.require(longest <= self.max_seq_len, "positions stay below max_seq_len (no RoPE extension)")
        if self.online_attn_block_size is not None:  # the course's guarantee for the online mode
            kit.require(self.s == self.max_seq_len and self.past == 0 and self.steps == 0
                        and self.qkv_layout == "BSHD" and self.qkv_pack_format == "Q_K_V",
                        "online attention only with s = max_seq_len, no cache, BSHD and Q_K_V")


CONFIG_FIELDS = (
    "num_layers", "hidden_size", "vocab_init_mean", "vocab_init_std", "lm_head_tied",
    "ffh_size", "max_seq_len", "init_base_seed", "vocab_size", "rope_base",
    "rope_ratio", "rope_dynamic", "group_size", "eps", "norm_init_range", "proj_init_seed", "proj_init_mean",
    "proj_init_std", "online_attn_block_size", "head_dim", "num_q_head", "num_kv_head", "window_size", "causal",
    "softmax_dropout_seed", "softmax_scale", "softmax_cap", "softmax_temp", "softmax_clip_range", "apply_qk_norm",
    "qk_norm_group_size", "lora_rank", "lora_alpha", "lora_dropout_seed", "lora_init_base_seed", "num_experts",
    "moe_topk", "gate_init_mean", "gate_init_std",
)


def _cu(lengths, device) -> torch.Tensor:
    return torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32, device=device)


def _kv_shape(p: Params, n: int) -> tuple[int, ...]:
    return {"BSHD": (p.b, n, p.num_kv_head, p.head_dim), "SBHD": (n, p.b, p.num_kv_head, p.head_dim),
            "THD": (n, p.num_kv_head, p.head_dim)}[p.qkv_layout]


def generate_inputs(case, seed: int) -> dict:
    p, r = kit.params(Params, case), kit.rng(case, seed)
    pdt = kit.DTYPES[p.param_dtype]
    act_dev = "cpu" if p.input_device == "cpu" else case.device
    def ids(*shape: int) -> torch.Tensor:
        return r.randint(0, p.vocab_size, *shape, place=False).to(device=act_dev, dtype=torch.int32)

    x = {"input_ids": ids(p.b, p.s)}
    if p.seqlens is not None:
        x["cu_seqlens"] = _cu(p.seqlens, act_dev)
    if p.past:
        for layer in range(p.num_layers):
            x[f"past_k{layer}"] = r.randn(*_kv_shape(p, p.past), draw=torch.float32, dtype=pdt)
            x[f"past_v{layer}"] = r.randn(*_kv_shape(p, p.past), draw=torch.float32, dtype=pdt)
        if p.past_seqlens is not None:
            x["past_cu_seqlens"] = _cu(p.past_seqlens, case.device)
    n_seq = 1 if p.seqlens is None else len(p.seqlens)
    for t in range(p.steps):
        x[f"step_ids{t}"] = ids(1, n_seq) if p.seqlens is not None else ids(p.b, 1)
    if p.seqlens is not None and p.steps:
        x["step_cu_seqlens"] = _cu([1] * n_seq, act_dev)
    d = lambda *shape: r.randn(*shape, draw=torch.float32, dtype=pdt)  # noqa: E731
    x["diag_ids"] = r.randint(0, p.vocab_size, 2, 3)
    x["diag_hidden"] = d(2, 3, p.hidden_size)
    x["diag_rope"] = d(2, min(4, p.max_seq_len), p.num_q_head, p.head_dim)
    n = p.max_seq_len if p.online_attn_block_size is not None else (8 if p.qkv_layout == "THD" else 5)
    b = 1 if p.online_attn_block_size is not None else 2
    x["diag_q"] = d(b, n, p.num_q_head, p.head_dim)
    x["diag_k"] = d(b, n, p.num_kv_head, p.head_dim)
    x["diag_v"] = d(b, n, p.num_kv_head, p.head_dim)
    return x


def make_config(sub, p: Params, case):
    values = {f: getattr(p, f) for f in CONFIG_FIELDS}
    values.update(
        param_dtype=kit.DTYPES[p.param_dtype], param_device=case.device,
        qkv_layout=kit.attr(sub.AttnQKVLayout, p.qkv_layout, "AttnQKVLayout"),
        qkv_pack_format=kit.attr(sub.AttnQKVPackFormat, p.qkv_pack_format, "AttnQKVPackFormat"),
        activation_type=kit.attr(sub.MLPActivationType, p.activation_type, "MLPActivationType"),
    )
    return sub.TransformerConfig(**values)


def _block(sub, p: Params, case, inputs):
    config = make_config(sub, p, case)
    block = sub.TransformerDecoderBlock(config)
    block = block.train() if p.training else block.eval()
    if p.past:
        cache = sub.TransformerDecoderKVCache(qkv_layout=config.qkv_layout, num_layers=p.num_layers)
        for layer in range(p.num_layers):
            cache.set(layer, inputs[f"past_k{layer}"], inputs[f"past_v{layer}"],
                      cu_seqlens=inputs.get("past_cu_seqlens"))
        block.set_kv_cache(cache)
    return config, block


def _logits(value, what: str, ids: torch.Tensor, vocab: int) -> torch.Tensor:
    return kit.snap(kit.tensor(value, what, shape=(*ids.shape, vocab)))


def run(sub, inputs: dict, case) -> dict:
    p = kit.params(Params, case)
    config, block = _block(sub, p, case, inputs)
    ids = inputs["input_ids"]
    logits = block(ids, cu_seqlens=inputs.get("cu_seqlens"))
    res = {"logits": _logits(logits, "the block's logits", ids, p.vocab_size)}
    for t in range(p.steps):
        step = inputs[f"step_ids{t}"]
        res[f"step{t}"] = _logits(block(step, cu_seqlens=inputs.get("step_cu_seqlens")),
                                  f"the block's logits at decode step {t + 1}", step, p.vocab_size)
    kit.attr(block, "reset_parameters", "TransformerDecoderBlock")
    res["reset_changed_params"] = kit.ints(kit.reset_check(block, atol=COURSE_ATOL, rtol=COURSE_RTOL), case)
    cache = block.get_kv_cache()
    if not p.training:
        res["cache_has"] = kit.ints([int(bool(cache.has(i))) for i in range(p.num_layers)], case)
    block.reset_kv_cache()
    res["cache_has_after_reset"] = kit.ints([int(bool(cache.has(i))) for i in range(p.num_layers)], case)
    counts = [float(block.num_parameters(learnable_only=lo, unit=u)) for lo in (True, False) for u in PARAM_UNITS]
    res["num_parameters"] = torch.tensor(counts, dtype=torch.float64, device=case.device)
    mems = [float(block.num_memory_footprint(unit=u)) for u in MEMORY_UNITS]
    res["memory_footprint"] = torch.tensor(mems, dtype=torch.float64, device=case.device)
    res.update(diagnostics(sub, p, config, inputs, case))
    return res


def diagnostics(sub, p: Params, config, inputs: dict, case) -> dict:
    """The submission's own modules, each built as the first layer (or the block) builds it."""
    pdt, dev = kit.DTYPES[p.param_dtype], case.device
    seed = p.init_base_seed  # the first layer's seeds (layer_idx 0)
    h = inputs["diag_hidden"]
    out = {}

    def norm():
        gz = p.hidden_size if p.group_size is None else p.group_size
        return sub.GroupRMSNorm(hidden_size=p.hidden_size, group_size=gz, eps=p.eps, init_range=p.norm_init_range,
                                init_seed=seed + 1, dtype=pdt, device=dev)(h)

    def rope(offset: int):
        x = inputs["diag_rope"]
        module = sub.NTKAwareRoPE(dim=p.head_dim, max_seq_len=p.max_seq_len, base=p.rope_base, ratio=p.rope_ratio,
                                  dynamic=p.rope_dynamic, dtype=pdt, device=dev)
        return module(x, offset) if offset else module(x)

    common = dict(head_dim=p.head_dim, num_q_head=p.num_q_head, num_kv_head=p.num_kv_head,
                  window_size=p.window_size, causal=p.causal, softmax_scale=p.softmax_scale,
                  softmax_cap=p.softmax_cap, softmax_temp=p.softmax_temp, apply_qk_norm=p.apply_qk_norm,
                  group_size=p.qk_norm_group_size, eps=p.eps, init_range=p.norm_init_range, init_seed=seed + 2,
                  dtype=pdt, device=dev)
    q, k, v = inputs["diag_q"], inputs["diag_k"], inputs["diag_v"]

    def offline():
        attn = sub.OfflineSlidingWindowAttn(
            qkv_pack_format=config.qkv_pack_format, qkv_layout=config.qkv_layout, softmax_dropout_rate=0.0,
            softmax_dropout_seed=p.softmax_dropout_seed, softmax_clip_range=p.softmax_clip_range,
            **common)
        qq, kk, vv, cu = q, k, v, None
        if p.qkv_layout == "SBHD":
            qq, kk, vv = (t.transpose(0, 1) for t in (q, k, v))
        elif p.qkv_layout == "THD":
            qq, kk, vv = (t[0] for t in (q, k, v))
            cu = _cu([3, 5], dev)
        if p.qkv_pack_format == "QKV":
            qq, kk, vv = torch.cat([qq, kk, vv], dim=-2), None, None
        elif p.qkv_pack_format == "Q_KV":
            kk, vv = torch.cat([kk, vv], dim=-2), None
        return attn(qq, kk, vv, cu_seqlens_q=cu, cu_seqlens_k=cu)

    def online():
        bz, s = p.online_attn_block_size, p.max_seq_len
        attn = sub.OnlineSlidingWindowAttn(seqlen_q=s, seqlen_kv=s, block_size_q=bz, block_size_kv=bz, **common)
        blocks = -(-s // bz)
        pad = blocks * bz - s
        o = torch.zeros_like(q)
        lse = torch.full((q.shape[0], p.num_q_head, s), float("-inf"), dtype=torch.float32, device=q.device)
        qq, kk, vv = (torch.nn.functional.pad(t, (0, 0, 0, 0, 0, pad)) for t in (q, k, v))
        for i in range(blocks):
            for j in range(blocks):
                attn(q=qq[:, i * bz:(i + 1) * bz], k=kk[:, j * bz:(j + 1) * bz], v=vv[:, j * bz:(j + 1) * bz],
                     global_o=o, global_lse=lse, block_idx_q=i, block_idx_kv=j)
        return o

    def mlp():
        common_mlp = dict(hidden_size=p.hidden_size, ffh_size=p.ffh_size, activation_type=config.activation_type,
                          init_base_seed=seed + 4, lora_rank=p.lora_rank, lora_alpha=p.lora_alpha,
                          lora_dropout_rate=0.0, lora_dropout_seed=p.lora_dropout_seed,
                          lora_init_base_seed=p.lora_init_base_seed, dtype=pdt, device=dev)
        if p.num_experts is None:
            return sub.DenseMLPWithLoRA(**common_mlp)(h)
        return sub.SparseMLPWithLoRA(num_experts=p.num_experts, moe_topk=p.moe_topk, rank=0, world_size=1,
                                     process_group=None, init_mean=p.gate_init_mean, init_std=p.gate_init_std,
                                     **common_mlp)(h)

    def vocab():
        emb = sub.ParallelVocabEmbedding(vocab_size=p.vocab_size, emb_size=p.hidden_size, rank=0, world_size=1,
                                         process_group=None, init_mean=p.vocab_init_mean, init_std=p.vocab_init_std,
                                         init_base_seed=p.init_base_seed, dtype=pdt, device=dev)
        return emb(inputs["diag_ids"])

    out["check_vocab_emb"] = kit.diagnostic(vocab)
    out["check_norm"] = kit.diagnostic(norm)
    out["check_rope"] = kit.diagnostic(lambda: rope(0))
    out["check_rope_offset"] = kit.diagnostic(lambda: rope(p.max_seq_len - inputs["diag_rope"].shape[1]))
    if p.online_attn_block_size is None:
        out["check_offline_attn"] = kit.diagnostic(offline)
    else:
        out["check_online_attn"] = kit.diagnostic(online)
    out["check_sparse_mlp" if p.num_experts is not None else "check_dense_mlp"] = kit.diagnostic(mlp)
    return out


def timed(sub, inputs: dict, case):
    p = kit.params(Params, case)
    _config, block = _block(sub, p, case, inputs)  # built outside the timed calls

    def call():
        if not p.training:
            block.reset_kv_cache()
        return block(inputs["input_ids"], cu_seqlens=inputs.get("cu_seqlens"))

    return call
