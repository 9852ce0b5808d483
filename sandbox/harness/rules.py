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


class _EngineProxy:
    """Stands in for the autograd engine: every backward pass (Tensor.backward,
    torch.autograd.grad, torch.func transforms) goes through run_backward."""

    def __init__(self, engine: Any, tracer: RuleTracer) -> None:
        self._engine = engine
        self._tracer = tracer

    def run_backward(self, *args: Any, **kwargs: Any) -> Any:
        self._tracer._violate("autograd is forbidden in this problem: a backward pass ran")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


class RuleTracer(TorchFunctionMode):
    """Records forbidden calls and raises RuleViolation at the first one.

    The record survives even if the student's code swallows the exception, and the harness
    checks afterwards that this mode is still installed. With autograd forbidden it also sets
    traps that do not depend on torch-function dispatch (which `torch._C.DisableTorchFunction`,
    however it is reached, switches off): a default saved-tensors hook, called whenever an
    operation records a graph that saves a tensor for backward, and a proxy for the autograd
    engine, called by every backward pass. `intact()` says whether all of them survived.
    """

    def __init__(self, forbidden_calls: list[str], forbid_autograd: bool) -> None:
        super().__init__()
        self.forbidden = list(forbidden_calls)
        self.forbid_autograd = forbid_autograd
        self.violations: list[str] = []
        self._engine: Any = None
        self._proxy: _EngineProxy | None = None
        self._tampered = False
        # With nothing to enforce the mode is not pushed at all: dispatching every torch call
        # through Python costs 10-20% of a call-heavy submission's time (a transformer block).
        self.active = bool(self.forbidden) or forbid_autograd

    @property
    def depth(self) -> int:
        """How many torch-function modes should be on the stack while this tracer is in force."""
        return 1 if self.active else 0

    def _pack(self, tensor: torch.Tensor) -> torch.Tensor:
        if not self.violations:  # recorded, not raised: an exception inside autograd is messy
            self.violations.append(
                "autograd is forbidden in this problem: an operation recorded an autograd graph"
            )
        return tensor

    @staticmethod
    def _unpack(tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def __enter__(self) -> RuleTracer:
        if not self.active:
            return self
        super().__enter__()  # type: ignore[no-untyped-call]
        if self.forbid_autograd:
            from torch.autograd.variable import Variable

            torch._C._autograd._push_saved_tensors_default_hooks(self._pack, self._unpack)
            self._engine = Variable._execution_engine
            self._proxy = _EngineProxy(self._engine, self)
            Variable._execution_engine = self._proxy  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self.active:
            return
        if self.forbid_autograd:
            from torch.autograd.variable import Variable

            top = torch._C._autograd._top_saved_tensors_default_hooks(False)
            engine: Any = Variable._execution_engine
            if top is None or top[0] != self._pack or engine is not self._proxy:
                self._tampered = True
            if top is not None:
                torch._C._autograd._pop_saved_tensors_default_hooks()
            Variable._execution_engine = self._engine
        super().__exit__(*exc)  # type: ignore[no-untyped-call]

    def intact(self) -> bool:
        """Whether the student left every trap as it was (checked on the way out)."""
        return not self._tampered

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
