"""The HSTU verify rows: every backend that runs here agrees with float64; the CUDA kernels are skipped rows."""

from __future__ import annotations

from dlrmbench_plugins.families.hstu.config import HSTUOptimizerConfig
from dlrmbench_plugins.families.hstu.verify import verify_backends


def test_every_runnable_backend_passes_and_the_cuda_kernels_say_why_not():
    for opt in (HSTUOptimizerConfig(), HSTUOptimizerConfig(name="adam", embedding="rowwise_adagrad")):
        rows = verify_backends(opt_cfg=opt)
        ran = {r.backend for r in rows if r.skipped is None}
        assert ran == {"pytorch", "jagged"}
        assert all(r.passed for r in rows if r.skipped is None), [r for r in rows if not r.passed]
        skipped = [r for r in rows if r.skipped is not None]
        assert {r.backend for r in skipped} == {"triton", "fbgemm"}
        assert all("needs a CUDA GPU" in r.skipped for r in skipped)
        assert len(rows) == 2 * 4 + 2
