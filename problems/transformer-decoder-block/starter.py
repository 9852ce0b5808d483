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
    """Past keys and values of every decoder layer, kept for decoding."""

    def __init__(self, qkv_layout: AttnQKVLayout = AttnQKVLayout.BSHD, num_layers: int = 1):
        """qkv_layout: the layout of the cached k and v; num_layers: how many layers it serves."""
        super().__init__()
        raise NotImplementedError("TODO: Assignment4 - Task1")

    def has(self, layer_idx: int) -> bool:
        """Whether layer `layer_idx` has cached keys and values."""
        raise NotImplementedError("TODO: Assignment4 - Task1")

    def get(self, layer_idx: int) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        """(k, v, cu_seqlens) of layer `layer_idx` (cu_seqlens is None unless the layout is THD).
        Raises KeyError when the layer has nothing cached."""
        raise NotImplementedError("TODO: Assignment4 - Task1")

    def set(self, layer_idx: int, k: torch.Tensor, v: torch.Tensor,
            cu_seqlens: Optional[torch.Tensor] = None) -> None:
        """Store (k, v, cu_seqlens) for the layer, replacing whatever it had (cu_seqlens: THD only)."""
        raise NotImplementedError("TODO: Assignment4 - Task1")

    def append(self, layer_idx: int, k: torch.Tensor, v: torch.Tensor,
               cu_seqlens: Optional[torch.Tensor] = None) -> None:
        """Extend the layer's cache along the sequence dimension (each inner sequence on its own
        with THD); acts like `set` when the layer has nothing cached."""
        raise NotImplementedError("TODO: Assignment4 - Task1")

    def reset(self):
        """Forget everything: back to the state right after construction."""
        raise NotImplementedError("TODO: Assignment4 - Task1")


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
