"""``compare`` and ``report --help`` stay light: no torch, no pandas, no matplotlib for compare."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "results"


def test_compare_imports_neither_torch_nor_matplotlib() -> None:
    code = (
        "import sys\n"
        "from dlrmbench.cli import main\n"
        "try:\n"
        f"    main(['compare', {str(FIXTURES / 'candidate')!r}, '--baseline', {str(FIXTURES / 'baseline')!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        "main_mods = [m for m in ('torch', 'pandas', 'matplotlib') if m in sys.modules]\n"
        "print('HEAVY', main_mods, file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in out.stderr, out.stderr
