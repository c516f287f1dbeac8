"""``torchrec`` availability: precise reasons from package metadata, never an import of torch/torchrec."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dlrmbench.host import Host
from dlrmbench_plugins.embeddings import _torchrec_compat as compat


def fake_versions(monkeypatch: pytest.MonkeyPatch, versions: dict[str, str]) -> None:
    monkeypatch.setattr(compat, "installed_version", lambda name: versions.get(name))


def test_known_good_set_is_available(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_versions(monkeypatch, {"torch": "2.13.0+cpu", "torchrec": "1.8.0", "fbgemm-gpu-cpu": "1.8.0"})
    assert compat.torchrec_reason(Host(), None, None) is None


def test_missing_packages_are_named_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_versions(monkeypatch, {"torch": "2.13.0"})
    reason = compat.torchrec_reason(Host(), None, None)
    assert reason == ("torchrec and fbgemm-gpu or fbgemm-gpu-cpu not installed (torch 2.13.0); known to work: "
                      "torch 2.13.x + torchrec==1.8.0 + fbgemm-gpu(-cpu)==1.8.0 (run `make torchrec`)")


def test_mismatched_versions_are_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_versions(monkeypatch, {"torch": "2.13.0", "torchrec": "1.9.2", "fbgemm-gpu": "1.9.0"})
    reason = compat.torchrec_reason(Host(), None, None)
    assert reason.startswith("untested version set (installed: torch 2.13.0, torchrec 1.9.2, fbgemm-gpu 1.9.0); "
                             "known to work: torch 2.13.x + torchrec==1.8.0")


def test_cpu_build_of_fbgemm_refuses_cuda_cases(monkeypatch: pytest.MonkeyPatch) -> None:
    from dlrmbench.config.schema import Case

    fake_versions(monkeypatch, {"torch": "2.13.0", "torchrec": "1.8.0", "fbgemm-gpu-cpu": "1.8.0"})
    reason = compat.torchrec_reason(Host(), Case(name="c", device="cuda"), None)
    assert reason == "fbgemm-gpu-cpu is the CPU-only build; CUDA cases need fbgemm-gpu (the CUDA build) instead"


def test_list_plugins_shows_the_reason_without_importing_torch() -> None:
    code = ("import sys; from click.testing import CliRunner; from dlrmbench.cli import make_cli; "
            "from dlrmbench_plugins.embeddings import _torchrec_compat as c; "
            "c.installed_version = lambda name: {'torch': '2.13.0'}.get(name); "
            "r = CliRunner().invoke(make_cli(), ['list-plugins', '--json']); print(r.output); "
            "print(sorted(m for m in ('torch', 'torchrec', 'fbgemm_gpu') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    listing, heavy = out.rsplit("\n", 2)[0], out.rsplit("\n", 2)[1]
    assert heavy == "[]"
    rows = {row["name"]: row for row in json.loads(listing)["plugins"]}
    for name in ("torchrec", "torchrec_fused"):
        assert rows[name]["available"] is False
        assert rows[name]["reason"].startswith("torchrec and fbgemm-gpu or fbgemm-gpu-cpu not installed (torch 2.13.0)")


def test_every_result_environment_records_torchrec_versions_and_cpu_bf16() -> None:
    from dlrmbench.cpu_features import native_bf16_flags
    from dlrmbench.plugins import get_manager

    facts: dict = {}
    for info in get_manager().hook.environment_info():
        facts.update(info or {})
    assert facts["torchrec"] == {"torchrec": compat.installed_version("torchrec"),
                                 "fbgemm": " ".join(compat.installed_fbgemm() or ()) or None}
    assert facts["cpu_bf16"] == {"native": bool(native_bf16_flags()), "flags": native_bf16_flags()}
