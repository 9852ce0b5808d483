"""Choosing the isolation backend. With none usable, the judge refuses to grade."""

from __future__ import annotations

from functools import lru_cache

from core.errors import SandboxUnavailableError
from core.settings import Settings
from sandbox.backends.base import Backend


@lru_cache(maxsize=8)
def _probe(kind: str, uid: int, image: str, runtime: str, warm: int = 0,
           zygote: bool = True) -> tuple[Backend | None, str]:
    backend: Backend
    if kind == "process":
        from sandbox.backends.process import ProcessSandbox

        backend = ProcessSandbox(uid=uid, warm=warm, zygote=zygote)
    else:
        try:
            from sandbox.backends.docker import DockerSandbox
        except ImportError as exc:
            return None, f"docker backend unavailable: {exc}"
        backend = DockerSandbox(image=image, runtime=runtime or None, warm=warm)
    ok, why = backend.available()
    return (backend if ok else None), why


def get_backend(settings: Settings) -> Backend:
    """The configured backend ("auto": process, else docker), or SandboxUnavailableError."""
    kinds = ["process", "docker"] if settings.sandbox == "auto" else [settings.sandbox]
    reasons = []
    for kind in kinds:
        backend, why = _probe(kind, settings.sandbox_uid, settings.sandbox_image, settings.sandbox_runtime,
                              settings.sandbox_warm, settings.sandbox_zygote)
        if backend is not None:
            return backend
        reasons.append(f"{kind}: {why}")
    raise SandboxUnavailableError(
        "no usable sandbox backend, refusing to run student code unsandboxed (" + "; ".join(reasons) + ")"
    )
