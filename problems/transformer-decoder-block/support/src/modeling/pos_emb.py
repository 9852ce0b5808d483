"""NTKAwareRoPE lives with apply_rotary_pos_emb in src/functional.py (the rope problem's reference)."""
from ..functional import NTKAwareRoPE  # noqa: F401
