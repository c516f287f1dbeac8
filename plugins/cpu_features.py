"""Records the CPU's native bf16 support (AVX-512-BF16, AMX) in every result's environment."""

from __future__ import annotations

from typing import Any

from dlrmbench import hookimpl


@hookimpl
def environment_info() -> dict[str, Any]:
    from dlrmbench.cpu_features import environment_facts

    return environment_facts()
