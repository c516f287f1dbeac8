"""One local Spark session (local[2], 2 GiB driver) shared by the whole test session."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_CANDIDATES = [os.environ.get("CRITEO_SAMPLE_DIR", ""), REPO.parent / "shared/data/criteo",
               REPO.parent.parent / "shared/data/criteo"]
DATA = next((Path(c) for c in _CANDIDATES if c and Path(c).is_dir()), Path("/nonexistent"))
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def spark():
    pytest.importorskip("pyspark")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    warnings.filterwarnings("ignore", category=FutureWarning)
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("preproc-tests")
        .config("spark.driver.memory", "2g")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def criteo_data() -> Path:
    if not DATA.exists():
        pytest.skip(f"real Criteo rows not found at {DATA}")
    return DATA
