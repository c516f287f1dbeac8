"""Run the Triton kernels in Triton's interpreter on the CPU.

TRITON_INTERPRET must be set before triton is first imported (it decides how Triton decorates its
own standard library), so it is set here, when pytest collects this folder.
"""

from __future__ import annotations

import os

os.environ.setdefault("TRITON_INTERPRET", "1")
