"""Launch a Triton kernel compiled for CUDA tensors, or interpreted for CPU tensors.

Triton decides between compiling and interpreting when it decorates a function, from
``TRITON_INTERPRET`` (its standard library is decorated when ``triton`` is imported). So CPU runs
need ``TRITON_INTERPRET=1`` in the environment before ``triton`` is first imported; the
``interpret`` option of the plugins and ``dlrmbench verify --device cpu`` set it for you
(:func:`enable_interpreter`). Kernels are decorated lazily, on first launch.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any, Callable

import torch

MIN_TILE = 16  # tl.dot needs every tile side >= 16 on GPUs; the interpreter gets the same shapes


class InterpreterNotEnabled(RuntimeError):
    """A Triton kernel was asked to run on CPU tensors without the interpreter."""


def tile(n: int, minimum: int = MIN_TILE) -> int:
    """The power of two >= ``n`` (and >= ``minimum``) used as a block size for a length ``n``."""
    size = minimum
    while size < n:
        size *= 2
    return size


def enable_interpreter() -> bool:
    """Set ``TRITON_INTERPRET=1`` if triton is not imported yet; True when the interpreter is on."""
    if "triton" not in sys.modules:
        os.environ["TRITON_INTERPRET"] = "1"
    return interpreter_enabled()


def interpreter_enabled() -> bool:
    """True when triton was (or will be) imported in interpreter mode."""
    if "triton" in sys.modules:
        from triton.runtime.interpreter import InterpretedFunction
        import triton.language as tl

        return isinstance(tl.zeros, InterpretedFunction)
    return os.environ.get("TRITON_INTERPRET", "").lower() in ("1", "true", "on", "yes")


@functools.lru_cache(maxsize=None)
def _jit(fn: Callable[..., Any]) -> Any:
    import triton

    return triton.jit(fn)


def kernel_for(fn: Callable[..., Any], device: torch.device) -> Any:
    """The launchable kernel of ``fn`` for tensors on ``device`` (``kernel[grid](...)``)."""
    if device.type == "cpu" and not interpreter_enabled():
        raise InterpreterNotEnabled(
            "Triton kernels run on CUDA GPUs; on the CPU they need Triton's interpreter: set "
            "TRITON_INTERPRET=1 before Python imports triton (or the plugin option interpret: true)"
        )
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"Triton kernels run on CUDA GPUs (or interpreted on the CPU), not on {device.type}")
    return _jit(fn)
