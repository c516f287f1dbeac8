"""Finding the raw day files of an input directory, in natural order (day_2 before day_10)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from preproc.errors import PreprocError

#: Assumed gzip compression ratio of Criteo logs, used only for the pre-flight estimate.
GZIP_RATIO = 4.0


@dataclass(frozen=True)
class InputFile:
    """One raw file: its name relative to the input directory, absolute path, size and mtime."""

    name: str
    path: Path
    size: int
    mtime_ns: int

    @property
    def compressed(self) -> bool:
        """True for gzip (by extension; Spark picks the codec the same way)."""
        return self.name.endswith(".gz")

    @property
    def estimated_raw_bytes(self) -> int:
        """Uncompressed size, estimated for gzip files."""
        return int(self.size * GZIP_RATIO) if self.compressed else self.size

    def record(self) -> dict[str, object]:
        """Manifest entry."""
        return {"name": self.name, "size": self.size, "mtime_ns": self.mtime_ns}


def natural_key(name: str) -> list[object]:
    """Sort key that orders embedded numbers numerically."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _not_a_day_file(path: Path) -> str | None:
    """Why ``path`` cannot be read as a raw day file, or None."""
    if path.is_symlink() and not path.exists():
        return "a link to nothing"
    if path.is_dir():
        return "a directory, not a file (the day files must sit directly in the input directory)"
    if not path.is_file():
        return "not a regular file"
    if not os.access(path, os.R_OK):
        return "not readable (permission denied)"
    return None


def discover(input_dir: Path) -> list[InputFile]:
    """Regular files of `input_dir` (hidden and `_`-prefixed entries are ignored), natural order.

    Any other entry that is not a readable regular file (a folder, a broken link, a pipe) is an error
    naming it: skipping it would silently shift which file is the test day.
    """
    if not input_dir.is_dir():
        raise PreprocError(f"input {input_dir}: not a directory; pass the directory that holds the raw day files")
    files = []
    for p in input_dir.iterdir():
        if p.name.startswith((".", "_")):
            continue
        problem = _not_a_day_file(p)
        if problem:
            raise PreprocError(f"input entry {p}: {problem}; every entry of the input directory is a day file "
                               "(move it away, or prefix its name with '_' or '.' to have it ignored)")
        if p.suffix in (".bz2", ".xz", ".zst", ".zip", ".lz4"):
            raise PreprocError(f"input file {p}: only plain or gzip (.gz) files are supported; recompress it with gzip")
        st = p.stat()
        files.append(InputFile(p.name, p.resolve(), st.st_size, st.st_mtime_ns))
    if not files:
        raise PreprocError(
            f"input directory {input_dir} holds no raw files; put the day files (day_0 ... day_23, plain or .gz) there"
        )
    files.sort(key=lambda f: natural_key(f.name))
    return files
