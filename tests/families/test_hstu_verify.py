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


def test_another_precision_is_a_skipped_row_not_an_fp32_pass():
    import io

    from rich.console import Console

    from dlrmbench_plugins.families.hstu._family import family_rows

    report = family_rows("cpu", "bf16", 1)
    assert [(r.backend, r.skipped) for r in report.rows] == [
        ("all", "precision bf16: hstu verify checks fp32 against float64 only")]
    assert not any(r.passed for r in report.rows)
    out = io.StringIO()
    report.render(Console(file=out, width=60))
    assert "precision bf16: hstu verify checks fp32 against float64 only" in " ".join(out.getvalue().split())
    assert "float64 only" in out.getvalue()
