"""RUNTIME ERROR: element_size is used without calling it.

A known submission for the transformer problems, derived from the reference: `src/modeling/transformer.py`: the config, the KV cache, the decoder layer and the decoder
block, built on the other bundled problems' references (installed from support/ as
src/modeling/norm.py, pos_emb.py, mlp.py, vocab_emb.py, attention.py and config.py).
"""

from typing import Literal, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torch.distributed import ProcessGroup

from .attention import AttnQKVLayout, AttnQKVPackFormat, OfflineSlidingWindowAttn, OnlineSlidingWindowAttn
from .config import BaseConfig, config_dataclass, make_fixed_field, make_required_field
from .mlp import DenseMLPWithLoRA, MLPActivationType, SparseMLPWithLoRA
from .norm import GroupRMSNorm
from .pos_emb import NTKAwareRoPE
from .vocab_emb import ParallelVocabEmbedding


@config_dataclass
class TransformerConfig(BaseConfig):
    # common
    num_layers: int = make_required_field()
    hidden_size: int = make_required_field()
    ffh_size: int = make_required_field()
    max_seq_len: int = make_required_field()
    param_dtype: torch.dtype = torch.float32
    param_device: str = "cpu"
    init_base_seed: int = 42
    # distributed (fixed)
    rank: int = make_fixed_field(0)
    world_size: int = make_fixed_field(1)
    process_group: Optional[ProcessGroup] = make_fixed_field(None)
    # vocab embedding
    vocab_size: int = make_required_field()
    vocab_init_mean: float = 0.0
    vocab_init_std: float = 1.0
    # rope
    rope_base: int = 10000
    rope_ratio: int = 1
    rope_dynamic: bool = False
    # norm
    group_size: Optional[int] = None
    eps: float = 1e-5
    norm_init_range: tuple = (-1.0, 1.0)
    # projections
    proj_init_seed: int = 42
    proj_init_mean: float = 0.0
    proj_init_std: float = 1.0
    lm_head_tied: bool = False
    # attention
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
    qk_norm_group_size: Optional[int] = None
    # dense mlp
    activation_type: MLPActivationType = MLPActivationType.SILU
    lora_rank: int = 0
    lora_alpha: Optional[float] = None
    lora_dropout_rate: float = 0.0
    lora_dropout_seed: int = 42
    lora_init_base_seed: int = 42
    # sparse mlp
    num_experts: Optional[int] = None
    moe_topk: int = 1
    gate_init_mean: float = 0.0
    gate_init_std: float = 1.0


def _seq_dim(layout: AttnQKVLayout) -> int:
    return 1 if layout is AttnQKVLayout.BSHD else 0


class TransformerDecoderKVCache(nn.Module):
    """Per-layer (k, v, cu_seqlens) triples; THD caches keep each inner sequence contiguous."""

    def __init__(self, qkv_layout: AttnQKVLayout = AttnQKVLayout.BSHD, num_layers: int = 1):
        super().__init__()
        self.qkv_layout = qkv_layout
        self.num_layers = num_layers
        self.seq_dim = _seq_dim(qkv_layout)
        self._store: dict = {}

    def _check(self, layer_idx: int) -> None:
        if not 0 <= layer_idx < self.num_layers:
            raise IndexError(f"layer_idx {layer_idx} is outside [0, {self.num_layers})")

    def has(self, layer_idx: int) -> bool:
        return 0 <= layer_idx < self.num_layers and layer_idx in self._store

    def get(self, layer_idx: int) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        self._check(layer_idx)
        if layer_idx not in self._store:
            raise KeyError(f"no cached key/value for layer {layer_idx}")
        return self._store[layer_idx]

    def set(self, layer_idx: int, k: torch.Tensor, v: torch.Tensor,
            cu_seqlens: Optional[torch.Tensor] = None) -> None:
        self._check(layer_idx)
        if (cu_seqlens is None) != (self.qkv_layout is not AttnQKVLayout.THD):
            raise ValueError("cu_seqlens is required with the THD layout and only with it")
        self._store[layer_idx] = (k, v, cu_seqlens)

    def append(self, layer_idx: int, k: torch.Tensor, v: torch.Tensor,
               cu_seqlens: Optional[torch.Tensor] = None) -> None:
        if not self.has(layer_idx):
            self.set(layer_idx, k, v, cu_seqlens)
            return
        past_k, past_v, past_cu = self._store[layer_idx]
        if self.qkv_layout is not AttnQKVLayout.THD:
            self.set(layer_idx, torch.cat([past_k, k], dim=self.seq_dim),
                     torch.cat([past_v, v], dim=self.seq_dim))
            return
        if cu_seqlens is None or cu_seqlens.shape != past_cu.shape:
            raise ValueError("append needs cu_seqlens with the cached inner batch size")
        old, new = past_cu.tolist(), cu_seqlens.tolist()

        def interleave(past: torch.Tensor, cur: torch.Tensor) -> torch.Tensor:
            pieces = []
            for i in range(len(old) - 1):
                pieces += [past[old[i]:old[i + 1]], cur[new[i]:new[i + 1]]]
            return torch.cat(pieces, dim=0)

        self._store[layer_idx] = (interleave(past_k, k), interleave(past_v, v), past_cu + cu_seqlens)

    def reset(self) -> None:
        self._store = {}


class TransformerDecoderLayer(nn.Module):
    """Pre-norm decoder layer: x + O(Attn(RoPE(Norm(x) W_qkv))), then x + MLP(Norm(x))."""

    def __init__(self, config: TransformerConfig, layer_idx: int = 0):
        super().__init__()
        cfg = config
        if not 0 <= layer_idx < cfg.num_layers:
            raise ValueError(f"layer_idx {layer_idx} is outside [0, {cfg.num_layers})")
        self.config, self.layer_idx = cfg, layer_idx
        self.online = cfg.online_attn_block_size is not None
        base = cfg.init_base_seed + layer_idx
        self.proj_seed = cfg.proj_init_seed + layer_idx
        pdt, pdev = cfg.param_dtype, cfg.param_device
        gz = cfg.hidden_size if cfg.group_size is None else cfg.group_size

        def norm(seed: int) -> GroupRMSNorm:
            return GroupRMSNorm(hidden_size=cfg.hidden_size, group_size=gz, eps=cfg.eps,
                                init_range=cfg.norm_init_range, init_seed=seed, dtype=pdt, device=pdev)

        self.heads = (cfg.num_q_head, cfg.num_kv_head, cfg.num_kv_head)
        self.widths = [n * cfg.head_dim for n in self.heads]
        self.attn_pre_norm = norm(base + 1)
        self.qkv_proj = nn.Parameter(torch.empty(cfg.hidden_size, sum(self.widths), dtype=pdt, device=pdev))
        self.rope = NTKAwareRoPE(dim=cfg.head_dim, max_seq_len=cfg.max_seq_len, base=cfg.rope_base,
                                 ratio=cfg.rope_ratio, dynamic=cfg.rope_dynamic, dtype=pdt, device=pdev)
        attn_common = dict(head_dim=cfg.head_dim, num_q_head=cfg.num_q_head, num_kv_head=cfg.num_kv_head,
                           window_size=cfg.window_size, causal=cfg.causal, softmax_scale=cfg.softmax_scale,
                           softmax_cap=cfg.softmax_cap, softmax_temp=cfg.softmax_temp,
                           apply_qk_norm=cfg.apply_qk_norm, group_size=cfg.qk_norm_group_size, eps=cfg.eps,
                           init_range=cfg.norm_init_range, init_seed=base + 2, dtype=pdt, device=pdev)
        if self.online:
            bz = cfg.online_attn_block_size
            self.attn = OnlineSlidingWindowAttn(seqlen_q=cfg.max_seq_len, seqlen_kv=cfg.max_seq_len,
                                                block_size_q=bz, block_size_kv=bz, **attn_common)
        else:
            self.attn = OfflineSlidingWindowAttn(
                qkv_pack_format=cfg.qkv_pack_format, qkv_layout=cfg.qkv_layout,
                softmax_dropout_rate=cfg.softmax_dropout_rate,
                softmax_dropout_seed=cfg.softmax_dropout_seed + layer_idx,
                softmax_clip_range=cfg.softmax_clip_range, **attn_common)
        self.out_proj = nn.Parameter(torch.empty(self.widths[0], cfg.hidden_size, dtype=pdt, device=pdev))
        self.mlp_pre_norm = norm(base + 3)
        mlp_common = dict(hidden_size=cfg.hidden_size, ffh_size=cfg.ffh_size, activation_type=cfg.activation_type,
                          init_base_seed=base + 4, lora_rank=cfg.lora_rank, lora_alpha=cfg.lora_alpha,
                          lora_dropout_rate=cfg.lora_dropout_rate,
                          lora_dropout_seed=cfg.lora_dropout_seed + layer_idx,
                          lora_init_base_seed=cfg.lora_init_base_seed + layer_idx, dtype=pdt, device=pdev)
        if cfg.num_experts is None:
            self.mlp = DenseMLPWithLoRA(**mlp_common)
        else:
            self.mlp = SparseMLPWithLoRA(num_experts=cfg.num_experts, moe_topk=cfg.moe_topk, rank=cfg.rank,
                                         world_size=cfg.world_size, process_group=cfg.process_group,
                                         init_mean=cfg.gate_init_mean, init_std=cfg.gate_init_std, **mlp_common)
        self.reset_parameters()

    def reset_parameters(self):
        cfg = self.config
        self.attn_pre_norm.reset_parameters()
        for offset, weight in ((1, self.qkv_proj), (2, self.out_proj)):
            torch.manual_seed(self.proj_seed + offset)
            nn.init.normal_(weight, mean=cfg.proj_init_mean, std=cfg.proj_init_std)
        self.mlp_pre_norm.reset_parameters()
        self.mlp.reset_parameters()

    # ---- attention sub-layer ----------------------------------------------------------------

    def _past_lengths(self, kv_cache, cu_seqlens) -> list:
        """RoPE offsets: how many positions each (inner) sequence already has in the cache."""
        n = 1 if cu_seqlens is None else cu_seqlens.numel() - 1
        if kv_cache is None or not kv_cache.has(self.layer_idx):
            return [0] * n
        past_k, _, past_cu = kv_cache.get(self.layer_idx)
        if cu_seqlens is None:
            return [past_k.shape[_seq_dim(self.config.qkv_layout)]]
        return (past_cu[1:] - past_cu[:-1]).tolist()

    def _rope(self, x: torch.Tensor, cu_seqlens, offsets) -> torch.Tensor:
        if cu_seqlens is None:
            return self.rope(x, offset=offsets[0])
        bounds = cu_seqlens.tolist()
        return torch.cat([self.rope(x[:, bounds[i]:bounds[i + 1]], offset=offsets[i])
                          for i in range(len(bounds) - 1)], dim=1)

    def _to_layout(self, xs: Sequence[torch.Tensor]) -> list:
        layout = self.config.qkv_layout
        if layout is AttnQKVLayout.SBHD:
            return [x.transpose(0, 1) for x in xs]
        if layout is AttnQKVLayout.THD:
            return [x[0] for x in xs]
        return list(xs)

    def _from_layout(self, o: torch.Tensor) -> torch.Tensor:
        layout = self.config.qkv_layout
        if layout is AttnQKVLayout.SBHD:
            return o.transpose(0, 1)
        if layout is AttnQKVLayout.THD:
            return o[None]
        return o

    def _offline(self, q, k, v, cu_seqlens, kv_cache) -> torch.Tensor:
        q, k, v = self._to_layout((q, k, v))
        cu_k = cu_seqlens
        if kv_cache is not None:
            kv_cache.append(self.layer_idx, k, v, cu_seqlens)
            k, v, cu_k = kv_cache.get(self.layer_idx)
        fmt = self.config.qkv_pack_format
        if fmt is AttnQKVPackFormat.QKV:
            args = (torch.cat([q, k, v], dim=-2), None, None)
        elif fmt is AttnQKVPackFormat.Q_KV:
            args = (q, torch.cat([k, v], dim=-2), None)
        else:
            args = (q, k, v)
        return self._from_layout(self.attn(*args, cu_seqlens_q=cu_seqlens, cu_seqlens_k=cu_k))

    def _online(self, q, k, v) -> torch.Tensor:
        bz = self.config.online_attn_block_size
        s = q.shape[1]
        blocks = -(-s // bz)
        out = torch.zeros_like(q)
        lse = torch.full((q.shape[0], q.shape[2], s), float("-inf"), dtype=torch.float32, device=q.device)
        pad = blocks * bz - s
        q, k, v = (nn.functional.pad(x, (0, 0, 0, 0, 0, pad)) for x in (q, k, v))
        for i in range(blocks):
            for j in range(blocks):
                self.attn(q=q[:, i * bz:(i + 1) * bz], k=k[:, j * bz:(j + 1) * bz], v=v[:, j * bz:(j + 1) * bz],
                          global_o=out, global_lse=lse, block_idx_q=i, block_idx_kv=j)
        return out

    def _attention(self, x, cu_seqlens, kv_cache) -> torch.Tensor:
        hd = self.config.head_dim
        q, k, v = ((x @ self.qkv_proj).split(self.widths, dim=-1))
        q, k, v = (t.unflatten(-1, (n, hd)) for t, n in zip((q, k, v), self.heads))
        offsets = self._past_lengths(kv_cache, cu_seqlens)
        q, k = self._rope(q, cu_seqlens, offsets), self._rope(k, cu_seqlens, offsets)
        o = self._online(q, k, v) if self.online else self._offline(q, k, v, cu_seqlens, kv_cache)
        return o.flatten(-2) @ self.out_proj

    def forward(self, input: torch.Tensor, cu_seqlens: Optional[torch.Tensor] = None,
                kv_cache: Optional[TransformerDecoderKVCache] = None) -> torch.Tensor:
        cfg = self.config
        x = input.to(dtype=cfg.param_dtype, device=cfg.param_device)
        h = x + self._attention(self.attn_pre_norm(x), cu_seqlens, kv_cache)
        out = h + self.mlp(self.mlp_pre_norm(h))
        return out.to(dtype=input.dtype, device=input.device)


class TransformerDecoderBlock(nn.Module):
    """Token ids -> vocab embedding -> decoder layers -> final norm -> LM head logits."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        cfg = self.config = config
        pdt, pdev = cfg.param_dtype, cfg.param_device
        self.vocab_emb = ParallelVocabEmbedding(
            vocab_size=cfg.vocab_size, emb_size=cfg.hidden_size, rank=cfg.rank, world_size=cfg.world_size,
            process_group=cfg.process_group, init_mean=cfg.vocab_init_mean, init_std=cfg.vocab_init_std,
            init_base_seed=cfg.init_base_seed, dtype=pdt, device=pdev)
        self.layers = nn.ModuleList(TransformerDecoderLayer(cfg, layer_idx=i) for i in range(cfg.num_layers))
        self.kv_cache = TransformerDecoderKVCache(qkv_layout=cfg.qkv_layout, num_layers=cfg.num_layers)
        self.final_norm = GroupRMSNorm(
            hidden_size=cfg.hidden_size, group_size=cfg.hidden_size if cfg.group_size is None else cfg.group_size,
            eps=cfg.eps, init_range=cfg.norm_init_range, init_seed=cfg.init_base_seed, dtype=pdt, device=pdev)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False, dtype=pdt, device=pdev)
        self.reset_parameters()

    def forward(self, input_ids: torch.LongTensor, cu_seqlens: Optional[torch.Tensor] = None) -> torch.Tensor:
        h = self.vocab_emb(input_ids.to(self.config.param_device))
        cache = None if self.training else self.kv_cache
        for layer in self.layers:
            h = layer(h, cu_seqlens=cu_seqlens, kv_cache=cache)
        return self.lm_head(self.final_norm(h)).to(input_ids.device)

    def get_kv_cache(self) -> TransformerDecoderKVCache:
        return self.kv_cache

    def set_kv_cache(self, kv_cache: TransformerDecoderKVCache):
        self.kv_cache = kv_cache

    def reset_kv_cache(self):
        self.kv_cache.reset()

    def reset_parameters(self):
        cfg = self.config
        self.vocab_emb.reset_parameters()
        for layer in self.layers:
            layer.reset_parameters()
        self.final_norm.reset_parameters()
        if cfg.lm_head_tied:
            self.lm_head.weight = self.vocab_emb.weight
        else:
            torch.manual_seed(cfg.proj_init_seed)
            nn.init.normal_(self.lm_head.weight, mean=cfg.proj_init_mean, std=cfg.proj_init_std)

    def num_parameters(self, learnable_only: bool = False, unit: Literal["1", "K", "M", "B"] = "1") -> float:
        scale = {"1": 1, "K": 10**3, "M": 10**6, "B": 10**9}
        if unit not in scale:
            raise ValueError(f"unknown unit {unit!r}")
        count = sum(p.numel() for p in self.parameters() if p.requires_grad or not learnable_only)
        return count / scale[unit]

    def num_memory_footprint(self, unit: Literal["B", "KB", "MB", "GB"] = "B") -> float:
        scale = {"B": 1, "KB": 2**10, "MB": 2**20, "GB": 2**30}
        if unit not in scale:
            raise ValueError(f"unknown unit {unit!r}")
        return sum(p.numel() * p.element_size for p in self.parameters()) / scale[unit]
