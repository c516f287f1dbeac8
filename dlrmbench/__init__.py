"""dlrmbench: a plugin-based, MLPerf-style benchmarking harness for DLRM.

The public surface a plugin author needs lives here: the ``hookimpl`` marker and the
plugin contract types re-exported from :mod:`dlrmbench.plugin_api`. Importing this package
never imports torch, pandas or pyspark.
"""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("dlrmbench")

__all__ = ["__version__", "hookimpl"]
