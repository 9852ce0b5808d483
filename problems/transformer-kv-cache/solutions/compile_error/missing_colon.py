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

    def has(self, layer_idx: int) -> bool

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
    """One pre-norm decoder layer: a self-attention sub-layer and an MLP sub-layer, each with a
    GroupRMSNorm before it and a residual connection around it."""

    def __init__(self, config: TransformerConfig, layer_idx: int = 0):
        """config: the shared configuration; layer_idx: this layer's index, in [0, num_layers)."""
        super().__init__()
        raise NotImplementedError("TODO: Assignment4 - Task2")

    def forward(self, input: torch.Tensor, cu_seqlens: Optional[torch.Tensor] = None,
                kv_cache: Optional[TransformerDecoderKVCache] = None) -> torch.Tensor:
        """input: [batch_size, seq_len, hidden_size] (batch_size is 1 when cu_seqlens, of shape
        [inner_batch_size + 1], is given); kv_cache: read and updated in place when given.
        Returns the output hidden states, shaped, typed and placed like `input`."""
        raise NotImplementedError("TODO: Assignment4 - Task2")

    def reset_parameters(self):
        """(Re-)initialize every learnable parameter of the layer from its seed."""
        raise NotImplementedError("TODO: Assignment4 - Task2")


class TransformerDecoderBlock(nn.Module):
    """A decoder-only language model: vocab embedding, num_layers decoder layers, a final norm
    and an LM head."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        raise NotImplementedError("TODO: Assignment4 - Task3")

    def forward(self, input_ids: torch.LongTensor, cu_seqlens: Optional[torch.Tensor] = None) -> torch.Tensor:
        """input_ids: [batch_size, seq_len] (batch_size is 1 when cu_seqlens is given).
        Returns the logits, [batch_size, seq_len, vocab_size], on input_ids' device."""
        raise NotImplementedError("TODO: Assignment4 - Task3")

    def get_kv_cache(self) -> TransformerDecoderKVCache:
        """The KV cache object the block uses."""
        raise NotImplementedError("TODO: Assignment4 - Task3")

    def set_kv_cache(self, kv_cache: TransformerDecoderKVCache):
        """Use `kv_cache` from now on."""
        raise NotImplementedError("TODO: Assignment4 - Task3")

    def reset_kv_cache(self):
        """Empty the KV cache."""
        raise NotImplementedError("TODO: Assignment4 - Task3")

    def reset_parameters(self):
        """(Re-)initialize every learnable parameter of the block from its seed."""
        raise NotImplementedError("TODO: Assignment4 - Task3")

    def num_parameters(self, learnable_only: bool = False, unit: Literal["1", "K", "M", "B"] = "1") -> float:
        """How many (learnable, if learnable_only) parameters the block has, in units of 1, a
        thousand, a million or a billion."""
        raise NotImplementedError("TODO: Assignment4 - Task3")

    def num_memory_footprint(self, unit: Literal["B", "KB", "MB", "GB"] = "B") -> float:
        """The bytes the parameters take, in B, KB, MB or GB."""
        raise NotImplementedError("TODO: Assignment4 - Task3")
