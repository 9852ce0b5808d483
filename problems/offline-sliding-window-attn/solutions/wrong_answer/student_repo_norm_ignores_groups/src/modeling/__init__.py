from .norm import GroupRMSNorm
from .attention import AttnQKVPackFormat, AttnQKVLayout, OfflineSlidingWindowAttn

__all__ = ["GroupRMSNorm", "AttnQKVPackFormat", "AttnQKVLayout", "OfflineSlidingWindowAttn"]
