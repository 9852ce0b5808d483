"""Strict JSON for reports: non-finite floats become strings.

A tolerance margin is infinite when the accepted solutions match the reference exactly, and
an error ratio can be NaN; Python's json writes those as `Infinity`/`NaN`, which is not JSON
(strict parsers and Postgres JSON columns refuse it). Every report that leaves the process
(the CLI's --json, JSON columns in the database) goes through `json_safe` first.
"""

from __future__ import annotations

import json
import math
from typing import Any


def non_finite_label(value: float) -> str:
    """How a non-finite float is written: "inf", "-inf" or "nan"."""
    if math.isnan(value):
        return "nan"
    return "inf" if value > 0 else "-inf"


def json_safe(value: Any) -> Any:
    """`value` with every non-finite float (in nested dicts, lists and tuples) as a string."""
    if isinstance(value, float) and not math.isfinite(value):
        return non_finite_label(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """Strict JSON text of `value` (non-finite floats as strings; never Infinity or NaN)."""
    return json.dumps(json_safe(value), allow_nan=False, **kwargs)
