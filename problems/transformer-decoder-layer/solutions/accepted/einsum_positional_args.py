"""src/modeling/transformer.py: the KV cache, the decoder layer and the decoder block.

It builds on your own modules from the earlier assignments (norm, pos_emb, vocab_emb, mlp,
attention), so submit your whole `src/` folder. TransformerConfig is given: keep it as it is.
"""

from typing import Literal, Optional, Tuple

import torch
import torch.nn as nn
from torch.distributed import ProcessGroup

# earlier assignments
from .vocab_emb import ParallelVocabEmbedding
from .pos_emb import NTKAwareRoPE
from .norm import GroupRMSNorm
from .mlp import MLPActivationType, DenseMLPWithLoRA, SparseMLPWithLoRA
from .attention import AttnQKVPackFormat, AttnQKVLayout, OfflineSlidingWindowAttn, OnlineSlidingWindowAttn

from .config import BaseConfig, config_dataclass, make_required_field, make_fixed_field


@config_dataclass
class TransformerConfig(BaseConfig):
    """Every setting of the decoder layer and block (see the statement for each field).

    Required fields must be given; fixed fields cannot be changed."""

    # common
    num_layers: int = make_required_field()
    hidden_size: int = make_required_field()
    ffh_size: int = make_required_field()
    max_seq_len: int = make_required_field()
    param_dtype: torch.dtype = torch.float32
    param_device: str = "cpu"
    init_base_seed: int = 42

    # distributed (fixed: a single process)
    rank: int = make_fixed_field(0)
    world_size: int = make_fixed_field(1)
    process_group: Optional[ProcessGroup] = make_fixed_field(None)

    # vocab embedding
    vocab_size: int = make_required_field()
    vocab_init_mean: float = 0.0
    vocab_init_std: float = 1.0

    # rotary position embedding
    rope_base: int = 10000
    rope_ratio: int = 1
    rope_dynamic: bool = False

    # normalization
    group_size: Optional[int] = None
    eps: float = 1e-5
    norm_init_range: tuple = (-1.0, 1.0)

    # projections
    proj_init_seed: int = 42
    proj_init_mean: float = 0.0
    proj_init_std: float = 1.0
    lm_head_tied: bool = False

    # attention (online mode when online_attn_block_size is set, offline otherwise)
    online_attn_block_size: Optional[int] = None
    head_dim: int = make_required_field()
    num_q_head: int = make_required_field()
    num_kv_head: int = make_required_field()
    qkv_pack_format: AttnQKVPackFormat = AttnQKVPackFormat.Q_K_V
    qkv_layout: AttnQKVLayout = AttnQKVLayout.BSHD
    window_size: Optional[int] = None
    causal: bool = False
    softmax_dropout_rate: float = 0.0
    softmax_dropout_seed: int = 42
    softmax_scale: Optional[float] = None
    softmax_cap: Optional[float] = None
    softmax_temp: float = 1.0
    softmax_clip_range: Tuple[float, float] = (0.0, 1.0)
    apply_qk_norm: bool = False
    qk_norm_group_size: Optional[int] = None  # the other qk-norm settings are the norm's above

    # dense mlp
    activation_type: MLPActivationType = MLPActivationType.SILU
    lora_rank: int = 0
    lora_alpha: Optional[float] = None
    lora_dropout_rate: float = 0.0
    lora_dropout_seed: int = 42
    lora_init_base_seed: int = 42

    # sparse mlp (used when num_experts is set)
    num_experts: Optional[int] = None
    moe_topk: int = 1
    gate_init_mean: float = 0.0
    gate_init_std: float = 1.0


class TransformerDecoderKVCache(nn.Module):
    """Keeps, per layer, a list of chunks for every inner sequence and joins them on get()."""

    def __init__(self, qkv_layout: AttnQKVLayout = AttnQKVLayout.BSHD, num_layers: int = 1):
        super().__init__()
        self.qkv_layout = qkv_layout
        self.num_layers = num_layers
        self.varlen = qkv_layout == AttnQKVLayout.THD
        self.dim = 1 if qkv_layout == AttnQKVLayout.BSHD else 0
        self.reset()

    def has(self, layer_idx: int) -> bool:
        return self.chunks[layer_idx] is not None

    def get(self, layer_idx: int):
        chunks = self.chunks[layer_idx]
        if chunks is None:
            raise KeyError(layer_idx)
        if not self.varlen:
            ks, vs = chunks
            return torch.cat(ks, dim=self.dim), torch.cat(vs, dim=self.dim), None
        ks = [torch.cat(seq_k, dim=0) for seq_k, _ in chunks]
        vs = [torch.cat(seq_v, dim=0) for _, seq_v in chunks]
        lengths = [0] + [x.shape[0] for x in ks]
        cu = torch.tensor(lengths, device=ks[0].device).cumsum(0).to(torch.int32)
        return torch.cat(ks, dim=0), torch.cat(vs, dim=0), cu

    def _split(self, x, cu_seqlens):
        bounds = cu_seqlens.tolist()
        return [x[bounds[i]:bounds[i + 1]] for i in range(len(bounds) - 1)]

    def set(self, layer_idx: int, k, v, cu_seqlens=None) -> None:
        self.chunks[layer_idx] = None
        self.append(layer_idx, k, v, cu_seqlens)

    def append(self, layer_idx: int, k, v, cu_seqlens=None) -> None:
        if not self.varlen:
            if self.chunks[layer_idx] is None:
                self.chunks[layer_idx] = ([], [])
            self.chunks[layer_idx][0].append(k)
            self.chunks[layer_idx][1].append(v)
            return
        ks, vs = self._split(k, cu_seqlens), self._split(v, cu_seqlens)
        if self.chunks[layer_idx] is None:
            self.chunks[layer_idx] = [([], []) for _ in ks]
        for (seq_k, seq_v), nk, nv in zip(self.chunks[layer_idx], ks, vs):
            seq_k.append(nk)
            seq_v.append(nv)

    def reset(self):
        self.chunks = [None] * self.num_layers


class TransformerDecoderLayer(nn.Module):
    """Written with separate q/k/v views of one projection matrix and einsum."""

    def __init__(self, config: TransformerConfig, layer_idx: int = 0):
        super().__init__()
        c = self.config = config
        assert 0 <= layer_idx < c.num_layers
        self.layer_idx = layer_idx
        kw = dict(dtype=c.param_dtype, device=c.param_device)
        gz = c.group_size or c.hidden_size
        self.attn_norm = GroupRMSNorm(c.hidden_size, gz, c.eps, c.norm_init_range, c.init_base_seed + layer_idx + 1, **kw)
        self.mlp_norm = GroupRMSNorm(c.hidden_size, gz, c.eps, c.norm_init_range, c.init_base_seed + layer_idx + 3, **kw)
        self.nq, self.nkv, self.hd = c.num_q_head, c.num_kv_head, c.head_dim
        self.w_qkv = nn.Parameter(torch.empty(c.hidden_size, (self.nq + 2 * self.nkv) * self.hd, **kw))
        self.w_o = nn.Parameter(torch.empty(self.nq * self.hd, c.hidden_size, **kw))
        self.rope = NTKAwareRoPE(c.head_dim, c.max_seq_len, c.rope_base, c.rope_ratio, c.rope_dynamic, **kw)
        shared = dict(head_dim=c.head_dim, num_q_head=c.num_q_head, num_kv_head=c.num_kv_head,
                      window_size=c.window_size, causal=c.causal, softmax_scale=c.softmax_scale,
                      softmax_cap=c.softmax_cap, softmax_temp=c.softmax_temp, apply_qk_norm=c.apply_qk_norm,
                      group_size=c.qk_norm_group_size, eps=c.eps, init_range=c.norm_init_range,
                      init_seed=c.init_base_seed + layer_idx + 2, **kw)
        if c.online_attn_block_size is None:
            self.attn = OfflineSlidingWindowAttn(qkv_pack_format=c.qkv_pack_format, qkv_layout=c.qkv_layout,
                                                 softmax_dropout_rate=c.softmax_dropout_rate,
                                                 softmax_dropout_seed=c.softmax_dropout_seed + layer_idx,
                                                 softmax_clip_range=c.softmax_clip_range, **shared)
        else:
            self.attn = OnlineSlidingWindowAttn(c.max_seq_len, c.max_seq_len, c.online_attn_block_size,
                                                c.online_attn_block_size, **shared)
        mlp_kw = dict(hidden_size=c.hidden_size, ffh_size=c.ffh_size, activation_type=c.activation_type,
                      init_base_seed=c.init_base_seed + layer_idx + 4, lora_rank=c.lora_rank,
                      lora_alpha=c.lora_alpha, lora_dropout_rate=c.lora_dropout_rate,
                      lora_dropout_seed=c.lora_dropout_seed + layer_idx,
                      lora_init_base_seed=c.lora_init_base_seed + layer_idx, **kw)
        if c.num_experts:
            self.mlp = SparseMLPWithLoRA(num_experts=c.num_experts, moe_topk=c.moe_topk, init_mean=c.gate_init_mean,
                                         init_std=c.gate_init_std, **mlp_kw)
        else:
            self.mlp = DenseMLPWithLoRA(**mlp_kw)
        self.reset_parameters()

    def reset_parameters(self):
        c = self.config
        self.attn_norm.reset_parameters()
        torch.manual_seed(c.proj_init_seed + self.layer_idx + 1)
        self.w_qkv.data.normal_(c.proj_init_mean, c.proj_init_std)
        torch.manual_seed(c.proj_init_seed + self.layer_idx + 2)
        self.w_o.data.normal_(c.proj_init_mean, c.proj_init_std)
        self.mlp_norm.reset_parameters()
        self.mlp.reset_parameters()

    def _positions(self, kv_cache, cu_seqlens):
        layout = self.config.qkv_layout
        if kv_cache is None or not kv_cache.has(self.layer_idx):
            return None
        k, _, cu = kv_cache.get(self.layer_idx)
        if layout == AttnQKVLayout.THD:
            return [int(cu[i + 1] - cu[i]) for i in range(cu.numel() - 1)]
        return k.shape[1] if layout == AttnQKVLayout.BSHD else k.shape[0]

    def _embed(self, x, cu_seqlens, past):
        if cu_seqlens is None:
            return self.rope(x, past or 0)
        parts = []
        for i in range(cu_seqlens.numel() - 1):
            a, b = int(cu_seqlens[i]), int(cu_seqlens[i + 1])
            parts.append(self.rope(x[:, a:b], past[i] if past else 0))
        return torch.cat(parts, dim=1)

    def _self_attention(self, x, cu_seqlens, kv_cache):
        c = self.config
        nq, nkv, hd = self.nq, self.nkv, self.hd
        w_q, w_k, w_v = self.w_qkv.split([nq * hd, nkv * hd, nkv * hd], dim=1)
        q = torch.einsum("bsh,hd->bsd", x, w_q).reshape(*x.shape[:2], nq, hd)
        k = torch.einsum("bsh,hd->bsd", x, w_k).reshape(*x.shape[:2], nkv, hd)
        v = torch.einsum("bsh,hd->bsd", x, w_v).reshape(*x.shape[:2], nkv, hd)
        past = self._positions(kv_cache, cu_seqlens)
        q, k = self._embed(q, cu_seqlens, past), self._embed(k, cu_seqlens, past)
        if c.online_attn_block_size is not None:
            o = self._blockwise(q, k, v)
        else:
            if c.qkv_layout == AttnQKVLayout.SBHD:
                q, k, v = q.permute(1, 0, 2, 3), k.permute(1, 0, 2, 3), v.permute(1, 0, 2, 3)
            elif c.qkv_layout == AttnQKVLayout.THD:
                q, k, v = q.squeeze(0), k.squeeze(0), v.squeeze(0)
            cu_k = cu_seqlens
            if kv_cache is not None:
                kv_cache.append(self.layer_idx, k, v, cu_seqlens)
                k, v, cu_k = kv_cache.get(self.layer_idx)
            if c.qkv_pack_format == AttnQKVPackFormat.QKV:
                o = self.attn(torch.cat((q, k, v), -2), cu_seqlens_q=cu_seqlens, cu_seqlens_k=cu_k)
            elif c.qkv_pack_format == AttnQKVPackFormat.Q_KV:
                o = self.attn(q, torch.cat((k, v), -2), cu_seqlens_q=cu_seqlens, cu_seqlens_k=cu_k)
            else:
                o = self.attn(q, k, v, cu_seqlens_q=cu_seqlens, cu_seqlens_k=cu_k)
            if c.qkv_layout == AttnQKVLayout.SBHD:
                o = o.permute(1, 0, 2, 3)
            elif c.qkv_layout == AttnQKVLayout.THD:
                o = o.unsqueeze(0)
        return torch.einsum("bsd,dh->bsh", o.reshape(*o.shape[:2], nq * hd), self.w_o)

    def _blockwise(self, q, k, v):
        bz = self.config.online_attn_block_size
        b, s = q.shape[:2]
        n = (s + bz - 1) // bz
        o = q.new_zeros(q.shape)
        lse = torch.full((b, self.nq, s), -float("inf"), device=q.device)
        grow = n * bz - s
        if grow:
            q, k, v = [torch.cat([t, t.new_zeros(b, grow, *t.shape[2:])], dim=1) for t in (q, k, v)]
        for i in range(n):
            for j in range(n):
                self.attn(q=q[:, i * bz:(i + 1) * bz], k=k[:, j * bz:(j + 1) * bz], v=v[:, j * bz:(j + 1) * bz],
                          global_o=o, global_lse=lse, block_idx_q=i, block_idx_kv=j)
        return o

    def forward(self, input, cu_seqlens=None, kv_cache=None):
        c = self.config
        x = input.to(c.param_device).to(c.param_dtype)
        x = x + self._self_attention(self.attn_norm(x), cu_seqlens, kv_cache)
        x = x + self.mlp(self.mlp_norm(x))
        return x.to(input.device).to(input.dtype)


class TransformerDecoderBlock(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        c = self.config = config
        kw = dict(dtype=c.param_dtype, device=c.param_device)
        self.embed = ParallelVocabEmbedding(c.vocab_size, c.hidden_size, init_mean=c.vocab_init_mean,
                                            init_std=c.vocab_init_std, init_base_seed=c.init_base_seed, **kw)
        self.decoder = nn.ModuleList([TransformerDecoderLayer(c, layer_idx=i) for i in range(c.num_layers)])
        self.norm = GroupRMSNorm(c.hidden_size, c.group_size or c.hidden_size, c.eps, c.norm_init_range,
                                 c.init_base_seed, **kw)
        self.head = nn.Linear(c.hidden_size, c.vocab_size, bias=False, **kw)
        self.cache = TransformerDecoderKVCache(c.qkv_layout, c.num_layers)
        self.reset_parameters()

    def forward(self, input_ids, cu_seqlens=None):
        h = self.embed(input_ids.to(self.config.param_device))
        for layer in self.decoder:
            h = layer(h, cu_seqlens, None if self.training else self.cache)
        return self.head(self.norm(h)).to(input_ids.device)

    def get_kv_cache(self):
        return self.cache

    def set_kv_cache(self, kv_cache):
        self.cache = kv_cache

    def reset_kv_cache(self):
        self.cache.reset()

    def reset_parameters(self):
        c = self.config
        self.embed.reset_parameters()
        for layer in self.decoder:
            layer.reset_parameters()
        self.norm.reset_parameters()
        if c.lm_head_tied:
            self.head.weight = self.embed.weight
        else:
            torch.manual_seed(c.proj_init_seed)
            self.head.weight.data.normal_(c.proj_init_mean, c.proj_init_std)

    def num_parameters(self, learnable_only=False, unit="1"):
        params = {id(p): p for p in self.parameters()}.values()
        n = sum(p.numel() for p in params if p.requires_grad or not learnable_only)
        return float(n) / {"1": 1.0, "K": 1e3, "M": 1e6, "B": 1e9}[unit]

    def num_memory_footprint(self, unit="B"):
        n = sum(p.numel() * p.element_size() for p in self.parameters())
        return float(n) / {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}[unit]
