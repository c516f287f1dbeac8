"""Entry point for `python -m preproc ...` and `spark-submit preproc/__main__.py ...`."""

import os
import sys

if __package__ in (None, ""):  # run as a script by spark-submit: make `preproc` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from preproc.cli import preprocess  # noqa: E402

if __name__ == "__main__":
    preprocess(prog_name="preprocess")
