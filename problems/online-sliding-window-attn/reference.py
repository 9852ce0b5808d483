"""Reference for `online-sliding-window-attn` (instructor only; never enters a student's sandbox).

This is the whole course file `src/modeling/attention.py`: the two enums, the offline
sliding-window attention module (every packing format and layout, varlen, softmax capping or
temperature, clipping, dropout, QK GroupRMSNorm, GQA) and its online, block-by-block subclass.
It imports the student's A1 norm as `.norm` (a symlink to the group-rmsnorm reference in this
package's support tree) and nothing else of the course.

Arithmetic follows the course's order of operations, so that in bfloat16 it rounds where the
course's official reference rounds: the logits, the local log-sum-exp and P @ V are computed in
the activation dtype, the softmax in float32, and the online merge in float32.
"""

import math
from enum import Enum
from itertools import pairwise

import torch
import torch.nn as nn
import torch.nn.functional as F

from .norm import GroupRMSNorm


class AttnQKVPackFormat(Enum):
    QKV = "qkv_packed"
    Q_KV = "q_kv_packed"
    Q_K_V = "q_k_v_packed"


class AttnQKVLayout(Enum):
    BSHD = "bshd"
    SBHD = "sbhd"
    THD = "thd"


NEG_INF = float("-inf")


def window_keep_mask(sq: int, skv: int, window_size: int | None, causal: bool) -> torch.Tensor:
    """[sq, skv] bool, True where query row i may attend to key column j.

    Both sequences are placed at the end (bottom right) of a square of side max(sq, skv): row i
    sits at position i + (s - sq), column j at j + (s - skv). With d = pos_q - pos_k, a pair is
    kept when |d| <= w (bidirectional) or 0 <= d <= w (causal); no window means w = infinity.
    """
    s = max(sq, skv)
    pos_q = torch.arange(sq).unsqueeze(1) + (s - sq)
    pos_k = torch.arange(skv).unsqueeze(0) + (s - skv)
    d = pos_q - pos_k
    w = s if window_size is None else window_size
    keep = d <= w
    return keep & (d >= 0) if causal else keep & (d >= -w)


def masked_softmax(logits: torch.Tensor) -> torch.Tensor:
    """Row softmax in float32; a row that is -inf everywhere gives zeros instead of NaN."""
    probs = torch.softmax(logits, dim=-1, dtype=torch.float32)
    dead = torch.isneginf(logits).all(dim=-1, keepdim=True)
    return probs.masked_fill(dead, 0.0)


def merge_lse(lse_a: torch.Tensor, lse_b: torch.Tensor) -> torch.Tensor:
    """log(exp(a) + exp(b)) in float32, as hi + log1p(exp(lo - hi)); -inf with -inf is -inf."""
    a, b = lse_a.float(), lse_b.float()
    hi, lo = torch.maximum(a, b), torch.minimum(a, b)
    gap = torch.where(torch.isneginf(hi), torch.full_like(hi, NEG_INF), lo - hi)
    return hi + torch.log1p(torch.exp(gap))


def rescale_weight(lse_part: torch.Tensor, lse_all: torch.Tensor) -> torch.Tensor:
    """exp(lse_part - lse_all) in float32 as [b, s, h, 1]; 0 where both are -inf."""
    gap = lse_part.float() - lse_all.float()
    gap = torch.where(torch.isneginf(lse_all), torch.full_like(gap, NEG_INF), gap)
    return torch.exp(gap).transpose(-1, -2).unsqueeze(-1)


class OfflineSlidingWindowAttn(nn.Module):
    """Sliding-window attention over whole sequences, with the course's stabilisers."""

    def __init__(
        self,
        head_dim: int,
        num_q_head: int,
        num_kv_head: int,
        qkv_pack_format: AttnQKVPackFormat = AttnQKVPackFormat.Q_K_V,
        qkv_layout: AttnQKVLayout = AttnQKVLayout.BSHD,
        window_size: int | None = None,
        causal: bool = False,
        softmax_dropout_rate: float = 0.0,
        softmax_dropout_seed: int = 42,
        softmax_scale: float | None = None,
        softmax_cap: float | None = None,
        softmax_temp: float = 1.0,
        softmax_clip_range: tuple[float, float] = (0.0, 1.0),
        apply_qk_norm: bool = False,
        group_size: int | None = None,
        eps: float = 1e-5,
        init_range: tuple = (-1.0, 1.0),
        init_seed: int = 42,
        dtype: torch.dtype = torch.float32,
        device: str = "cpu",
    ):
        super().__init__()
        if num_q_head % num_kv_head != 0:
            raise ValueError(f"num_q_head {num_q_head} is not a multiple of num_kv_head {num_kv_head}")
        self.head_dim = head_dim
        self.num_q_head = num_q_head
        self.num_kv_head = num_kv_head
        self.qkv_pack_format = qkv_pack_format
        self.qkv_layout = qkv_layout
        self.window_size = window_size
        self.causal = causal
        self.softmax_dropout_rate = softmax_dropout_rate
        self.softmax_dropout_seed = softmax_dropout_seed
        self.softmax_scale = 1.0 / math.sqrt(head_dim) if softmax_scale is None else softmax_scale
        self.softmax_cap = softmax_cap
        self.softmax_temp = softmax_temp
        self.softmax_clip_range = tuple(softmax_clip_range)
        self.apply_qk_norm = apply_qk_norm
        self.group_size = head_dim if group_size is None else group_size
        self.eps = eps
        self.init_range = init_range
        self.init_seed = init_seed
        self.dtype = dtype
        self.device = device
        self.kv_groups = num_q_head // num_kv_head
        if apply_qk_norm:
            norm = dict(group_size=self.group_size, eps=eps, init_range=init_range,
                        init_seed=init_seed, dtype=dtype, device=device)
            self.q_norm = GroupRMSNorm(hidden_size=num_q_head * head_dim, **norm)
            self.k_norm = GroupRMSNorm(hidden_size=num_kv_head * head_dim, **norm)

    # ---- the pieces the online subclass reuses ---------------------------------------------

    def _normalize_qk(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """GroupRMSNorm over each token's heads * head_dim features (bshd in, bshd out)."""
        if not self.apply_qk_norm:
            return q, k
        return self.q_norm(q.flatten(2)).unflatten(2, q.shape[2:]), \
            self.k_norm(k.flatten(2)).unflatten(2, k.shape[2:])

    def _share_kv_heads(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """GQA / MQA: query head h reads key/value head h // (num_q_head // num_kv_head)."""
        if self.kv_groups == 1:
            return k, v
        return k.repeat_interleave(self.kv_groups, dim=2), v.repeat_interleave(self.kv_groups, dim=2)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked attention of bshd q [b, sq, h, d] over k, v [b, skv, h, d].

        Returns the output [b, sq, h, d] and the log-sum-exp of the adjusted logits [b, h, sq]
        (-inf for a row with nothing to attend to, whose output row is zero)."""
        qt, kt, vt = (x.transpose(1, 2) for x in (q, k, v))
        logits = (qt @ kt.transpose(-2, -1)) * self.softmax_scale
        if self.softmax_cap is not None:
            logits = torch.tanh(logits / self.softmax_cap) * self.softmax_cap
        else:
            logits = logits / self.softmax_temp
        logits = logits.masked_fill(~keep.to(logits.device), NEG_INF)
        lse = torch.logsumexp(logits, dim=-1)
        probs = masked_softmax(logits).to(q.dtype)
        lo, hi = self.softmax_clip_range
        if (lo, hi) != (0.0, 1.0):
            probs = torch.clip((hi - lo) * probs + lo, min=0.0, max=1.0)
        if self.softmax_dropout_rate > 0.0 and self.training:
            torch.manual_seed(self.softmax_dropout_seed)  # the same mask on every call
            probs = F.dropout(probs, p=self.softmax_dropout_rate, training=True)
        return (probs @ vt).transpose(1, 2), lse

    # ---- offline forward ---------------------------------------------------------------------

    def _unpack(self, q, k, v):
        hq, hkv = self.num_q_head, self.num_kv_head
        if self.qkv_pack_format is AttnQKVPackFormat.QKV:
            return torch.split(q, [hq, hkv, hkv], dim=-2)
        if self.qkv_pack_format is AttnQKVPackFormat.Q_KV:
            return (q, *torch.split(k, [hkv, hkv], dim=-2))
        return q, k, v

    def forward(
        self,
        q: torch.Tensor,
        k: torch.Tensor | None = None,
        v: torch.Tensor | None = None,
        cu_seqlens_q: torch.Tensor | None = None,
        cu_seqlens_k: torch.Tensor | None = None,
    ) -> torch.Tensor:
        out_dtype, out_device = q.dtype, q.device
        q, k, v = self._unpack(q, k, v)
        layout = self.qkv_layout
        if layout is AttnQKVLayout.SBHD:
            q, k, v = (x.transpose(0, 1) for x in (q, k, v))
        elif layout is AttnQKVLayout.THD:
            q, k, v = (x.unsqueeze(0) for x in (q, k, v))
        q, k = self._normalize_qk(q, k)
        k, v = self._share_kv_heads(k, v)
        if layout is AttnQKVLayout.THD:
            o = torch.zeros_like(q)
            spans_q, spans_k = pairwise(cu_seqlens_q.tolist()), pairwise(cu_seqlens_k.tolist())
            for (q0, q1), (k0, k1) in zip(spans_q, spans_k, strict=True):
                keep = window_keep_mask(q1 - q0, k1 - k0, self.window_size, self.causal)
                o[:, q0:q1] = self._attend(q[:, q0:q1], k[:, k0:k1], v[:, k0:k1], keep)[0]
            o = o.squeeze(0)
        else:
            keep = window_keep_mask(q.shape[1], k.shape[1], self.window_size, self.causal)
            o = self._attend(q, k, v, keep)[0]
            if layout is AttnQKVLayout.SBHD:
                o = o.transpose(0, 1)
        return o.to(dtype=out_dtype, device=out_device)

    def reset_parameters(self):
        if self.apply_qk_norm:
            self.q_norm.reset_parameters()
            self.k_norm.reset_parameters()


class OnlineSlidingWindowAttn(OfflineSlidingWindowAttn):
    """One (query block, key/value block) step of the offline attention, merged into a running
    global output and log-sum-exp (bshd, separate q / k / v, no clipping, no dropout)."""

    def __init__(
        self,
        seqlen_q: int,
        seqlen_kv: int,
        block_size_q: int,
        block_size_kv: int,
        head_dim: int,
        num_q_head: int,
        num_kv_head: int,
        window_size: int | None = None,
        causal: bool = False,
        softmax_scale: float | None = None,
        softmax_cap: float | None = None,
        softmax_temp: float = 1.0,
        apply_qk_norm: bool = False,
        group_size: int | None = None,
        eps: float = 1e-5,
        init_range: tuple = (-1.0, 1.0),
        init_seed: int = 42,
        dtype: torch.dtype = torch.float32,
        device: str = "cpu",
    ):
        super().__init__(
            head_dim=head_dim,
            num_q_head=num_q_head,
            num_kv_head=num_kv_head,
            window_size=window_size,
            causal=causal,
            softmax_scale=softmax_scale,
            softmax_cap=softmax_cap,
            softmax_temp=softmax_temp,
            apply_qk_norm=apply_qk_norm,
            group_size=group_size,
            eps=eps,
            init_range=init_range,
            init_seed=init_seed,
            dtype=dtype,
            device=device,
        )
        self.seqlen_q = seqlen_q
        self.seqlen_kv = seqlen_kv
        self.block_size_q = block_size_q
        self.block_size_kv = block_size_kv
        self.num_blocks_q = -(-seqlen_q // block_size_q)
        self.num_blocks_kv = -(-seqlen_kv // block_size_kv)
        # The mask of the whole (zero-padded) problem, once: padded rows and columns are never kept.
        keep = torch.zeros(self.num_blocks_q * block_size_q, self.num_blocks_kv * block_size_kv, dtype=torch.bool)
        keep[:seqlen_q, :seqlen_kv] = window_keep_mask(seqlen_q, seqlen_kv, window_size, causal)
        self.keep = keep

    def forward(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        global_o: torch.Tensor,
        global_lse: torch.Tensor,
        block_idx_q: int,
        block_idx_kv: int,
    ) -> None:
        bq, bkv = self.block_size_q, self.block_size_kv
        q0, k0 = block_idx_q * bq, block_idx_kv * bkv
        rows = min(bq, self.seqlen_q - q0)  # the real rows of this (maybe padded) query block
        keep = self.keep[q0:q0 + bq, k0:k0 + bkv]
        q, k = self._normalize_qk(q, k)
        k, v = self._share_kv_heads(k, v)
        o_blk, lse_blk = self._attend(q, k, v, keep)
        o_blk, lse_blk = o_blk[:, :rows], lse_blk[..., :rows]

        o_old = global_o[:, q0:q0 + rows]
        lse_old = global_lse[..., q0:q0 + rows]
        lse_new = merge_lse(lse_old, lse_blk)
        o_new = rescale_weight(lse_old, lse_new) * o_old + rescale_weight(lse_blk, lse_new) * o_blk
        o_old.copy_(o_new.to(o_old.dtype))
        lse_old.copy_(lse_new.to(lse_old.dtype))
