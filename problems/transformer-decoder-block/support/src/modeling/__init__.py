"""The course's `src.modeling` package: every module of the assignments, re-exported."""
from .norm import GroupRMSNorm
from .vocab_emb import ParallelVocabEmbedding
from .pos_emb import NTKAwareRoPE
from .mlp import DenseMLPWithLoRA, SparseMLPWithLoRA, MLPActivationType
from .attention import AttnQKVPackFormat, AttnQKVLayout, OfflineSlidingWindowAttn, OnlineSlidingWindowAttn
from .transformer import (
    TransformerConfig,
    TransformerDecoderKVCache,
    TransformerDecoderLayer,
    TransformerDecoderBlock,
)

__all__ = [
    "GroupRMSNorm", "ParallelVocabEmbedding", "NTKAwareRoPE",
    "DenseMLPWithLoRA", "SparseMLPWithLoRA", "MLPActivationType",
    "AttnQKVPackFormat", "AttnQKVLayout", "OfflineSlidingWindowAttn", "OnlineSlidingWindowAttn",
    "TransformerConfig", "TransformerDecoderKVCache", "TransformerDecoderLayer", "TransformerDecoderBlock",
]
