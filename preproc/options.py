"""Run options and the split rule, validated before anything heavy starts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from preproc.errors import PreprocError

BAD_LINE_POLICIES = ("fail", "skip")


@dataclass(frozen=True)
class SplitRule:
    """How rows are assigned to train/test/validation.

    * ``reference``: every file but the last (natural name order) is train; the last file is halved
      by line number: lines 1..floor(L/2) -> test, the rest -> validation (L = its line count).
      On day_0..day_23 this is NVIDIA's split (days 0-22 train, day 23 = test + validation).
    * ``fraction:T,V``: each row goes to test with probability T, validation with V, else train,
      decided by a seeded hash of (file, line), so it is reproducible and independent of Spark.
    * ``files:TEST[+TEST...][:VAL[+VAL...]]``: the named files are test (and validation); the rest train.
    """

    kind: str
    test_fraction: float = 0.0
    validation_fraction: float = 0.0
    test_files: tuple[str, ...] = ()
    validation_files: tuple[str, ...] = ()

    def describe(self) -> str:
        """The rule as the user would type it (also stored in the manifest)."""
        if self.kind == "fraction":
            return f"fraction:{self.test_fraction:g},{self.validation_fraction:g}"
        if self.kind == "files":
            text = "files:" + "+".join(self.test_files)
            return text + (":" + "+".join(self.validation_files) if self.validation_files else "")
        return self.kind


def parse_split(text: str) -> SplitRule:
    """Parse ``--split``; raises PreprocError with the accepted forms."""
    forms = "use 'reference', 'fraction:TEST,VALIDATION' (e.g. fraction:0.05,0.05) or 'files:TEST[:VALIDATION]'"
    text = text.strip()
    if text == "reference":
        return SplitRule("reference")
    if text.startswith("fraction:"):
        parts = text[len("fraction:"):].split(",")
        try:
            t, v = (float(p) for p in parts)
        except ValueError:
            raise PreprocError(f"--split {text!r}: expected two numbers after 'fraction:'; {forms}") from None
        if not (0 <= t <= 1 and 0 <= v <= 1 and t + v < 1):
            raise PreprocError(f"--split {text!r}: fractions must be in [0, 1] and sum to less than 1")
        return SplitRule("fraction", test_fraction=t, validation_fraction=v)
    if text.startswith("files:"):
        groups = text[len("files:"):].split(":")
        if not 1 <= len(groups) <= 2 or not groups[0]:
            raise PreprocError(f"--split {text!r}: {forms}")
        test = tuple(n for n in groups[0].split("+") if n)
        val = tuple(n for n in groups[1].split("+") if n) if len(groups) == 2 else ()
        return SplitRule("files", test_files=test, validation_files=val)
    raise PreprocError(f"--split {text!r} is not a known rule; {forms}")


@dataclass(frozen=True)
class PreprocOptions:
    """Everything that decides the bytes of the output (the resume fingerprint) plus how to run."""

    input_dir: Path
    output_dir: Path
    frequency_threshold: int = 15
    split: SplitRule = field(default_factory=lambda: SplitRule("reference"))
    seed: int = 0
    bad_lines: str = "fail"
    keep_work: bool = False

    def __post_init__(self) -> None:
        if self.frequency_threshold < 1:
            raise PreprocError(
                f"--frequency-threshold {self.frequency_threshold}: must be at least 1 (1 keeps every value)"
            )
        if self.bad_lines not in BAD_LINE_POLICIES:
            raise PreprocError(f"--bad-lines {self.bad_lines!r}: choose one of {', '.join(BAD_LINE_POLICIES)}")

    def fingerprint(self) -> dict[str, Any]:
        """The options that decide the output bytes (resume refuses when they change).

        The bad-line policy is not part of it: it never changes the bytes written (under `fail`
        no output is written when a file has bad lines), so a run stopped by `fail` can be
        resumed with `skip`.
        """
        return {
            "frequency_threshold": self.frequency_threshold,
            "split": asdict(self.split) | {"rule": self.split.describe()},
            "seed": self.seed,
        }
