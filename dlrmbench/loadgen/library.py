"""Import LoadGen (``mlperf_loadgen``, PyPI ``mlcommons-loadgen``) or say which extra installs it."""

from __future__ import annotations

import importlib.util
from typing import Any

from dlrmbench.errors import UserError

MODULE = "mlperf_loadgen"
INSTALL = "pip install 'dlrmbench[serve]'"


def missing_reason() -> str | None:
    """Why LoadGen cannot run here, or None (light: no import)."""
    if importlib.util.find_spec(MODULE) is None:
        return f"MLPerf LoadGen ({MODULE}, PyPI mlcommons-loadgen) is not installed: {INSTALL}"
    return None


def loadgen() -> Any:
    """The ``mlperf_loadgen`` module; :class:`UserError` naming the ``serve`` extra when it is missing."""
    try:
        import mlperf_loadgen
    except ImportError as exc:
        raise UserError(f"serving under LoadGen needs MLPerf LoadGen ({MODULE} is not importable: {exc}); "
                        f"{INSTALL}") from None
    return mlperf_loadgen
