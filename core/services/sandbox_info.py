"""Which sandbox backend this process would grade with, and under which uid student code runs
(shown by /api/v1/health, the admin page and the worker heartbeats)."""

from __future__ import annotations

import os
from typing import Any

from core.settings import Settings


def describe(settings: Settings) -> dict[str, Any]:
    """{"backend": "process"|"docker"|"none", "uid": int|None, "detail": str}; never raises."""
    from core.errors import SandboxUnavailableError
    from core.sandboxing import get_backend

    try:
        backend = get_backend(settings)
    except SandboxUnavailableError as exc:
        return {"backend": "none", "uid": None, "detail": str(exc)[:300]}
    except Exception as exc:  # noqa: BLE001 - a probe that crashes is reported, not raised
        return {"backend": "none", "uid": None, "detail": f"probe failed: {exc.__class__.__name__}"}
    name = getattr(backend, "name", type(backend).__name__)
    if name == "docker":
        uid = getattr(backend, "uid", None)
        detail = "container user"
    elif getattr(backend, "drop_uid", False):
        uid, detail = getattr(backend, "uid", None), "real uid after dropping root"
    else:
        uid, detail = os.geteuid(), "the worker's own uid, in a user namespace"
    return {"backend": name, "uid": uid, "detail": detail}
