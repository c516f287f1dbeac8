"""The allocator vocabulary: how a case's worker process allocates host memory (``allocator: glibc-tuned``).

PyTorch's CPU allocator has no cache: every tensor of every step is a ``malloc`` and a ``free``. With
glibc's defaults, a freed buffer above the (dynamic) mmap threshold, or at the top of the heap above
the trim threshold, goes back to the kernel and the next step faults it in again, page by page
(zeroed): depending on the process's history a step can spend a quarter of its time in the kernel.
The harness must not cost what it measures, so the worker's allocator is chosen deliberately, per
case, and recorded with the result (``environment["allocator"]``). Each row says which shared
library to preload (none: glibc's own malloc) and which settings it runs with:

- ``glibc-tuned`` (the default; needs nothing installed): glibc malloc with fixed thresholds:
  buffers up to 1 GiB are served from the heap, freed memory is never trimmed back to the kernel,
  the heap grows 64 MiB at a time. Memory is held at the process's peak (what a caching allocator does).
- ``glibc``: glibc's defaults, as any Python process runs (the harness before this choice existed).
- ``jemalloc``: ``libjemalloc.so.2`` preloaded, freed pages never purged (``dirty_decay_ms:-1,
  muzzy_decay_ms:-1``; torch's ``run_cpu`` settings, ``oversize_threshold:1`` with long decays, still
  fault every large buffer in again, because jemalloc purges its oversize arena at once).
- ``tcmalloc``: ``libtcmalloc_minimal.so.4`` (or the full ``libtcmalloc.so.4``) preloaded, memory never
  released to the kernel (``TCMALLOC_RELEASE_RATE=0``).

A row whose library is not installed makes its cases skip with the reason and the package to install.
Whatever the parent's environment says about allocators (``MALLOC_*_``, ``MALLOC_CONF``, ``TCMALLOC_*``,
an allocator in ``LD_PRELOAD``) is replaced by the case's row, so a result never depends on a shell's
leftovers; the worker records what it actually runs with (:func:`observed`). Light: no torch.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

GIB, MIB = 1 << 30, 1 << 20


@dataclass(frozen=True)
class Allocator:
    """One allocator setup.

    Attributes:
        name: what a suite writes.
        summary: one line for tables and skip messages.
        settings: environment variables the worker starts with (the allocator's own knobs).
        libraries: shared-library file names to preload, the first one found wins; empty: glibc's malloc.
        install: how to get the library (for the skip reason).
    """

    name: str
    summary: str
    settings: dict[str, str] = field(default_factory=dict)
    libraries: tuple[str, ...] = ()
    install: str = ""


ALLOCATORS: dict[str, Allocator] = {
    "glibc-tuned": Allocator(
        "glibc-tuned", "glibc malloc, buffers up to 1 GiB kept in the heap, never trimmed",
        {"MALLOC_MMAP_THRESHOLD_": str(GIB), "MALLOC_TRIM_THRESHOLD_": str(1 << 40),
         "MALLOC_TOP_PAD_": str(64 * MIB)}),
    "glibc": Allocator("glibc", "glibc malloc with its defaults (dynamic mmap and trim thresholds)"),
    "jemalloc": Allocator(
        "jemalloc", "jemalloc, freed pages never purged",
        {"MALLOC_CONF": "dirty_decay_ms:-1,muzzy_decay_ms:-1"}, ("libjemalloc.so.2",),
        "install libjemalloc2 (Debian, Ubuntu), jemalloc (Fedora, conda-forge)"),
    "tcmalloc": Allocator(
        "tcmalloc", "tcmalloc, memory never released to the kernel",
        {"TCMALLOC_RELEASE_RATE": "0", "TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD": str(1 << 40)},
        ("libtcmalloc_minimal.so.4", "libtcmalloc.so.4"),
        "install libtcmalloc-minimal4 (Debian, Ubuntu), gperftools-libs (Fedora), gperftools (conda-forge)"),
}
"""Every allocator setup, by the name a suite uses."""

DEFAULT_ALLOCATOR = "glibc-tuned"

#: The variables any row may set or that steer an allocator: removed from the parent's environment first.
_GLIBC_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_",
                    "MALLOC_ARENA_MAX", "MALLOC_ARENA_TEST", "MALLOC_PERTURB_", "MALLOC_CHECK_")
_STEERING = re.compile(r"^(MALLOC_CONF|TCMALLOC_[A-Z_]+|MIMALLOC_[A-Z_]+)$")
_ALLOCATOR_LIBRARY = re.compile(r"lib(jemalloc|tcmalloc|tcmalloc_minimal|mimalloc)(_debug)?\.so")

#: The variable that tells the worker which row it was started with.
ALLOCATOR_VARIABLE = "DLRMBENCH_ALLOCATOR"

#: PyTorch's own CPU allocator setting (``c10/core/alloc_cpu.cpp``): ``1`` aligns every buffer of 2 MiB or
#: more to 2 MiB and asks the kernel for transparent huge pages for it (``madvise(MADV_HUGEPAGE)``).
HUGE_PAGES_VARIABLE = "THP_MEM_ALLOC_ENABLE"

#: The kernel's transparent huge page mode: ``[madvise]`` (the common default) gives huge pages only to
#: memory that asks for them, ``[always]`` to all large anonymous memory, ``[never]`` to none.
THP_MODE = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def library_dirs() -> list[Path]:
    """Where preloadable libraries are looked for: ``LD_LIBRARY_PATH``, this Python's prefix (conda), the
    system's multiarch and plain library folders."""
    dirs = [Path(p) for p in os.environ.get("LD_LIBRARY_PATH", "").split(":") if p]
    dirs.append(Path(sys.prefix) / "lib")
    multiarch = sysconfig.get_config_var("MULTIARCH")
    for root in ("/usr/local/lib", "/usr/lib", "/lib"):
        if multiarch:
            dirs.append(Path(root) / multiarch)
        dirs.append(Path(root))
    dirs += [Path("/usr/lib64"), Path("/lib64")]
    return list(dict.fromkeys(dirs))


def find_library(allocator: Allocator, dirs: list[Path] | None = None) -> Path | None:
    """The first of the row's libraries found (a file), or None; always None for glibc rows."""
    for name in allocator.libraries:
        for folder in library_dirs() if dirs is None else dirs:
            candidate = folder / name
            if candidate.is_file():
                return candidate
    return None


def unavailable_reason(name: str, dirs: list[Path] | None = None) -> str | None:
    """Why allocator ``name`` cannot be used here (its library is not installed), or None."""
    row = ALLOCATORS[name]
    if not row.libraries or find_library(row, dirs) is not None:
        return None
    return (f"allocator {name}: {' or '.join(row.libraries)} not found (looked in LD_LIBRARY_PATH, "
            f"{sys.prefix}/lib and the system library folders); {row.install}, or choose allocator: "
            f"{DEFAULT_ALLOCATOR}")


def worker_environment(name: str, base: dict[str, str], dirs: list[Path] | None = None,
                       huge_pages: bool = False) -> dict[str, str]:
    """``base`` (the parent's environment) with every allocator setting replaced by row ``name``'s, and
    PyTorch's huge-page setting on (``huge_pages``) or removed.

    Raises RuntimeError when the row's library is missing (the planner skips such cases first).
    """
    row = ALLOCATORS[name]
    env = {k: v for k, v in base.items()
           if k not in _GLIBC_VARIABLES and k != HUGE_PAGES_VARIABLE and not _STEERING.match(k)}
    preload = [p for p in re.split(r"[:\s]+", env.pop("LD_PRELOAD", "")) if p and not _ALLOCATOR_LIBRARY.search(p)]
    if row.libraries:
        library = find_library(row, dirs)
        if library is None:
            raise RuntimeError(unavailable_reason(name, dirs) or f"allocator {name}: library not found")
        preload.insert(0, str(library))
    if preload:
        env["LD_PRELOAD"] = ":".join(preload)
    env.update(row.settings)
    if huge_pages:
        env[HUGE_PAGES_VARIABLE] = "1"
    env[ALLOCATOR_VARIABLE] = name
    return env


def kernel_thp_mode(path: Path = THP_MODE) -> str | None:
    """The kernel's transparent huge page mode (``always``, ``madvise``, ``never``), None where unreadable."""
    try:
        raw = path.read_text()
    except OSError:
        return None
    return next((w.strip("[]") for w in raw.split() if w.startswith("[")), raw.strip() or None)


def huge_page_bytes(rollup: str = "/proc/self/smaps_rollup") -> int | None:
    """Bytes of this process's anonymous memory on transparent huge pages (``AnonHugePages``), None where
    the kernel does not say."""
    try:
        text = Path(rollup).read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("AnonHugePages:"):
            fields = line.split()
            return int(fields[1]) * 1024 if len(fields) >= 2 and fields[1].isdigit() else None
    return None


def loaded_allocator_libraries(maps: str = "/proc/self/maps") -> list[str]:
    """Allocator libraries (jemalloc, tcmalloc, mimalloc) mapped into this process, from ``/proc/self/maps``."""
    try:
        text = Path(maps).read_text(errors="replace")
    except OSError:
        return []
    found = []
    for line in text.splitlines():
        parts = line.split(maxsplit=5)
        path = parts[5].strip() if len(parts) == 6 else ""
        if path and _ALLOCATOR_LIBRARY.search(Path(path).name) and path not in found:
            found.append(path)
    return found


def observed(environ: dict[str, str] | None = None, maps: str = "/proc/self/maps",
             thp_mode: Path = THP_MODE) -> dict[str, object]:
    """What this process allocates with, for the result's ``environment["allocator"]``: the row it was
    started with (None when not started by the runner), the allocator libraries actually mapped, the
    settings in its environment (``GLIBC_TUNABLES`` included when set), whether PyTorch asks for huge pages
    and the kernel's huge page mode (which decides whether asking gets any)."""
    env = os.environ if environ is None else environ
    libraries = loaded_allocator_libraries(maps)
    keys = [k for k in env
            if k in _GLIBC_VARIABLES or _STEERING.match(k) or k in ("GLIBC_TUNABLES", HUGE_PAGES_VARIABLE)]
    return {
        "name": env.get(ALLOCATOR_VARIABLE),
        "library": libraries[0] if libraries else "glibc malloc",
        "settings": {k: env[k] for k in sorted(keys)},
        "huge_pages": env.get(HUGE_PAGES_VARIABLE) == "1",
        "kernel_thp": kernel_thp_mode(thp_mode),
    }


def mismatch(record: dict[str, object]) -> str | None:
    """Why an :func:`observed` record contradicts its row (a preload that did not take), or None."""
    name = record.get("name")
    if not isinstance(name, str) or name not in ALLOCATORS:
        return None
    row, library = ALLOCATORS[name], str(record.get("library"))
    stems = tuple(lib.split(".so")[0] + ".so" for lib in row.libraries)  # maps show libfoo.so.4.5.10
    if row.libraries and not Path(library).name.startswith(stems):
        return (f"allocator {name} was asked for, but this process allocates with {library} (LD_PRELOAD did not "
                "take: see the worker log for ld.so's message)")
    if not row.libraries and library != "glibc malloc":
        return f"allocator {name} was asked for, but {library} is loaded into this process"
    return None


def checked() -> dict[str, object]:
    """:func:`observed` for this process; RuntimeError when it contradicts the row it was started with."""
    record = observed()
    why = mismatch(record)
    if why:
        raise RuntimeError(why)
    return record
