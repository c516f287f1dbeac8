"""The suites shipped with dlrmbench, found by bare name (``dlrmbench run quickstart``) and listed.

They install as package data (import name ``dlrmbench_suites``, mapped to the checkout's ``suites/``
by the build config), so ``pip install dlrmbench`` brings them; a source checkout whose install
predates that mapping finds them beside the package. A path to a file always wins over a name.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

SUITES_PACKAGE = "dlrmbench_suites"
SUFFIXES = (".yaml", ".yml")


def shipped_suites_dir() -> Path | None:
    """The folder holding the shipped suite files, or None when neither the package data nor a checkout has one."""
    try:
        spec = importlib.util.find_spec(SUITES_PACKAGE)  # a top-level package: finds, imports nothing
    except (ImportError, ValueError):
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        if Path(location).is_dir():
            return Path(location)
    checkout = Path(__file__).resolve().parents[2] / "suites"
    return checkout if checkout.is_dir() else None


def shipped_suites() -> dict[str, Path]:
    """Each shipped suite's bare name (the file name without ``.yaml``) and its file, by name."""
    folder = shipped_suites_dir()
    if folder is None:
        return {}
    files = [p for p in folder.iterdir() if p.suffix in SUFFIXES and p.is_file()]
    return {p.stem: p for p in sorted(files, key=lambda p: p.stem)}


def is_bare_name(argument: str | Path) -> bool:
    """True for ``quickstart`` or ``quickstart.yaml``: no folder part, so it may name a shipped suite."""
    text = str(argument)
    return bool(text) and "/" not in text and "\\" not in text and text not in (".", "..")


def resolve_suite(argument: str | Path) -> Path:
    """The suite file ``argument`` means: an existing path as given, else the shipped suite of that bare name,
    else the path as given (whose reader then says it does not exist, listing the shipped names)."""
    path = Path(argument)
    if path.exists() or not is_bare_name(argument):
        return path
    name = path.name
    for suffix in SUFFIXES:
        name = name.removesuffix(suffix)
    return shipped_suites().get(name, path)
