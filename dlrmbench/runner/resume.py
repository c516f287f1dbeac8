"""``run --resume RUN_DIR``: finish a run that was stopped, skipping the cases it already finished.

A run stopped by Ctrl-C, SIGTERM or a full disk keeps every finished result. Resuming reads its
manifest, checks that the suite file and every finished case's settings are the ones planned now (a
changed suite or other options would mix two experiments in one result set), and hands the executor
the cases to skip; the interrupted case and those never started run again, in the same result set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dlrmbench.config.loader import LoadedSuite
from dlrmbench.errors import UserError
from dlrmbench.results.schema import CaseResult, RunManifest
from dlrmbench.runner.plan import PlannedCase

#: Case statuses that a resume reruns: the case did not finish.
UNFINISHED = ("interrupted",)


@dataclass
class Resume:
    """The stopped run: its folder, manifest (finished entries only), and the finished results."""

    run_dir: Path
    manifest: RunManifest
    results: list[CaseResult] = field(default_factory=list)

    @property
    def done(self) -> set[tuple[str, int]]:
        return {(r.case, r.repeat) for r in self.results}


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (the suite file a run recorded, to tell a resumed run it changed)."""
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_manifest(run_dir: Path) -> RunManifest:
    """The manifest of ``run_dir``, or a clear error when it is not a dlrmbench run folder."""
    path = run_dir / "run.json"
    if not path.is_file():
        raise UserError(f"--resume {run_dir}: no run.json there; give a run folder such as "
                        "results/<suite>/<run-id>")
    try:
        return RunManifest.model_validate_json(path.read_bytes())
    except ValueError as exc:
        raise UserError(f"--resume {run_dir}: run.json is not a dlrmbench manifest ({str(exc).splitlines()[0]})") from None


def load_resume(run_dir: Path, loaded: LoadedSuite, planned: list[PlannedCase], repeat: int) -> Resume:
    """Check that ``run_dir`` is a stopped run of this suite with these settings; return what it finished."""
    manifest = read_manifest(run_dir)
    if manifest.suite != loaded.suite.name:
        raise UserError(f"--resume {run_dir}: a run of suite {manifest.suite!r}, not {loaded.suite.name!r}")
    if manifest.suite_sha256 != file_sha256(loaded.path):
        raise UserError(f"--resume {run_dir}: {loaded.path} changed since that run started (its sha256 differs); "
                        "start a new run instead")
    configs = {p.case.name: p.case.model_dump(mode="json") for p in planned}
    results = []
    for entry in manifest.cases:
        if entry.status in UNFINISHED or not entry.file:
            continue
        if entry.case not in configs:
            raise UserError(f"--resume {run_dir}: case {entry.case} finished there but is not planned now; give the "
                            "same --only as that run")
        if entry.repeat >= repeat:
            raise UserError(f"--resume {run_dir}: that run had more repeats; give the same --repeat")
        try:
            result = CaseResult.model_validate_json((run_dir / entry.file).read_bytes())
        except (OSError, ValueError) as exc:
            raise UserError(f"--resume {run_dir}: cannot read {entry.file}: {exc}") from None
        if result.config != configs[entry.case]:
            raise UserError(f"--resume {run_dir}: case {entry.case} ran with other settings than planned now; "
                            "give the same options as that run (--scale-down, --dataset-path, --timeout)")
        results.append(result)
    kept = {(r.case, r.repeat) for r in results}
    manifest.cases = [e for e in manifest.cases if (e.case, e.repeat) in kept]
    manifest.status, manifest.reason, manifest.finished_at = "running", None, None
    return Resume(run_dir=run_dir, manifest=manifest, results=results)
