"""The output directory and resume state: what is done is recorded, nothing half-written is trusted.

Layout of the work area OUTPUT/_work/: run.json (the fingerprint of inputs and options),
scan/NNNN/{counts/, stats.json}, dictionaries.json, lookup/, chunks/bucket-NNNNNNNN/ (each complete,
with its chunk.json), chunks.json, assembled_<split>.json. A marker (a JSON file, written atomically)
is written only after the outputs it vouches for are complete; a stage without its marker is redone
from scratch.
OUTPUT/preprocess.json is written last and marks the whole run complete.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from preproc import atomic
from preproc.errors import PreprocError

WORK = "_work"
MANIFEST = "preprocess.json"
#: Entries a (partial) run of ours may leave in OUTPUT.
OWN_ENTRIES = {WORK, MANIFEST, "model_size.json", "dictionaries", "train", "test", "validation"}


class WorkState:
    """Paths and markers of one run's work area."""

    def __init__(self, output_dir: Path) -> None:
        self.output = output_dir
        self.work = output_dir / WORK

    def scan_dir(self, index: int) -> Path:
        """Work directory of the scan of input file number `index`."""
        return self.work / "scan" / f"{index:04d}"

    def marker(self, name: str) -> Path:
        """Path of a stage marker."""
        return self.work / f"{name}.json"

    def done(self, name: str) -> dict[str, Any] | None:
        """The marker's content if the stage is done, else None."""
        path = self.marker(name)
        return atomic.read_json(path) if path.exists() else None

    def mark(self, name: str, content: dict[str, Any]) -> None:
        """Record a stage as done."""
        path = self.marker(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_json(path, content)


def prepare_output(output_dir: Path, fingerprint: dict[str, Any], before_create: Callable[[], None]) -> str:
    """Check OUTPUT and set up the work area. Returns 'new', 'resume' or 'complete'.

    `before_create` (the pre-flight) runs only when a new run is about to start.
    Refuses a directory that holds anything else, or a run made with other inputs or options.
    """
    if output_dir.exists() and not output_dir.is_dir():
        raise PreprocError(f"output {output_dir} is a file; pass a new or empty directory")
    existing = output_dir.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        why = "is not a directory" if not existing.is_dir() else "is not writable"
        raise PreprocError(f"output {output_dir}: cannot be written ({existing} {why}); pass a directory you can "
                           "write")
    entries = sorted(p.name for p in output_dir.iterdir()) if output_dir.exists() else []
    foreign = [e for e in entries if e not in OWN_ENTRIES]
    if foreign:
        raise PreprocError(
            f"output directory {output_dir} already holds other files ({', '.join(foreign[:5])}); "
            "pass a new or empty directory (the pipeline never overwrites foreign data)"
        )
    run_file = output_dir / WORK / "run.json"
    manifest = output_dir / MANIFEST
    previous = None
    if manifest.exists():
        previous = atomic.read_json(manifest).get("fingerprint")
    elif run_file.exists():
        previous = atomic.read_json(run_file)
    elif entries:
        raise PreprocError(
            f"output directory {output_dir} holds an unfinished run without its state ({', '.join(entries)}); "
            "delete it or pass a new directory"
        )
    if previous is not None and not manifest.exists() and not any((output_dir / WORK).glob("scan/*/stats.json")):
        previous = None  # nothing finished yet (e.g. stopped by bad lines): start over with the new options
    if previous is not None:
        if previous != fingerprint:
            diff = [k for k in fingerprint if previous.get(k) != fingerprint.get(k)]
            raise PreprocError(
                f"output directory {output_dir} holds a run with different {', '.join(diff)}; "
                "rerun with the same inputs and options to resume, or pass a new output directory"
            )
        if manifest.exists():
            check_outputs_unchanged(output_dir)
            return "complete"
        return "resume"
    before_create()
    (output_dir / WORK).mkdir(parents=True, exist_ok=True)
    atomic.write_json(run_file, fingerprint)
    return "new"


def output_records(output_dir: Path) -> dict[str, Any]:
    """Fingerprints (size, modification time, sampled digest) of every split file written, by relative path."""
    from preproc.fingerprint import record

    names = [f"{split}/{p.name}" for split in ("train", "test", "validation") if (output_dir / split).is_dir()
             for p in sorted((output_dir / split).iterdir()) if p.is_file()]
    return {name: record(output_dir / name) for name in names}


def check_outputs_unchanged(output_dir: Path) -> None:
    """A complete run whose outputs changed since (a file rewritten, truncated or removed) is refused, naming
    the file, instead of being reported complete."""
    from preproc.fingerprint import change

    outputs = atomic.read_json(output_dir / MANIFEST).get("outputs")
    if not isinstance(outputs, dict):
        return  # written before fingerprints were recorded
    for name, recorded in outputs.items():
        why = change(output_dir / name, recorded)
        if why is not None:
            raise PreprocError(f"{output_dir / name}: changed since this run wrote it ({why}); the dataset is not "
                               "what preprocess.json describes: restore the file, or preprocess into a new folder")
