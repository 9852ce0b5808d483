"""Dereferences NULL. Expected: runtime_error (SIGSEGV)."""
import ctypes


def matmul_with_multi_head(input, weight, num_heads=1):
    ctypes.string_at(0)
