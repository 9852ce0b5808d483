"""Runtime rule enforcement: a TorchFunctionMode that sees every torch call a submission makes."""

from __future__ import annotations

from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from sandbox.harness import RuleViolation

_MODULE_ALIASES = {
    "torch._C._nn": "torch.nn.functional",
    "torch._C._fft": "torch.fft",
    "torch._C._linalg": "torch.linalg",
    "torch._C._special": "torch.special",
    "torch._tensor": "torch",
}

# Every way to reach autograd from inside a torch call.
AUTOGRAD_CALLS = (
    "Tensor.backward",
    "Tensor.register_hook",
    "Tensor.retain_grad",
    "torch.autograd",
    "torch.func",
)


def qualified_name(func: Any) -> str:
    """A stable dotted name for a torch callable: torch.matmul, Tensor.backward, ..."""
    qual = str(getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func))
    module = getattr(func, "__module__", None)
    if qual.startswith("getset_descriptor."):
        owner = getattr(func, "__self__", None)
        attr = getattr(owner, "__name__", "?")
        return f"Tensor.{attr}.{qual.rsplit('.', 1)[-1]}"
    if qual.startswith(("TensorBase.", "Tensor.")):
        return "Tensor." + qual.split(".", 1)[1]
    if qual.startswith("_VariableFunctionsClass."):
        return "torch." + qual.split(".", 1)[1]
    module = _MODULE_ALIASES.get(module or "", module)
    return f"{module}.{qual}" if module else qual


def _matches(name: str, pattern: str) -> bool:
    return name == pattern or name.startswith(pattern + ".")


def _any_requires_grad(values: Any) -> bool:
    stack = [values]
    while stack:
        v = stack.pop()
        if isinstance(v, torch.Tensor):
            if v.requires_grad:
                return True
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
    return False


class RuleTracer(TorchFunctionMode):
    """Records forbidden calls and raises RuleViolation at the first one.

    The record survives even if the student's code swallows the exception, and the harness
    checks afterwards that this mode is still installed.
    """

    def __init__(self, forbidden_calls: list[str], forbid_autograd: bool) -> None:
        super().__init__()
        self.forbidden = list(forbidden_calls)
        self.forbid_autograd = forbid_autograd
        self.violations: list[str] = []

    def _violate(self, message: str) -> None:
        self.violations.append(message)
        raise RuleViolation(message)

    def __torch_function__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = kwargs or {}
        name = qualified_name(func)
        for pattern in self.forbidden:
            if _matches(name, pattern):
                self._violate(f"forbidden call: {name}")
        if self.forbid_autograd:
            for pattern in AUTOGRAD_CALLS:
                if _matches(name, pattern):
                    self._violate(f"autograd is forbidden in this problem: {name}")
            if name == "Tensor.requires_grad.__set__" and len(args) > 1 and bool(args[1]):
                self._violate("autograd is forbidden in this problem: setting requires_grad=True")
            turning_on = args[1] if len(args) > 1 else kwargs.get("requires_grad", True)
            if name == "Tensor.requires_grad_" and bool(turning_on):
                self._violate("autograd is forbidden in this problem: Tensor.requires_grad_()")
            if kwargs.get("requires_grad"):
                self._violate(f"autograd is forbidden in this problem: {name}(requires_grad=True)")
            # Reading an attribute (x.grad_fn, x.shape) computes nothing; everything else on a
            # tensor that requires grad, with gradients on, records an autograd graph.
            reading = name.endswith(".__get__")
            if not reading and torch.is_grad_enabled() and _any_requires_grad((args, kwargs)):
                self._violate(
                    f"autograd is forbidden in this problem: {name} ran with gradients enabled "
                    "on a tensor that requires grad"
                )
        return func(*args, **kwargs)
