"""Starting (or reusing) the Spark session: local by default, a cluster when given its master URL."""

from __future__ import annotations

import os
import sys
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Iterator, Mapping

from preproc.errors import PreprocError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: JVM flag for the driver and the executors: let the JIT compile methods over 8000 bytecodes. Spark's
#: generated code for the 40-column projections exceeds that limit, and the JVM would then interpret
#: it for the whole run; measured: the transform's map stage takes about half the CPU time with it.
JIT_HUGE_METHODS = "-XX:-DontCompileHugeMethods"
JAVA_OPTION_KEYS = ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions")

DEFAULT_CONF = {
    "spark.driver.memory": "2g",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "64",
    **{key: JIT_HUGE_METHODS for key in JAVA_OPTION_KEYS},
}


def parse_conf(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``key=value`` strings -> dict; refuses malformed pairs."""
    conf = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not key.strip().startswith("spark."):
            raise PreprocError(f"--spark-conf {pair!r}: expected spark.KEY=VALUE, e.g. spark.driver.memory=4g")
        conf[key.strip()] = value.strip()
    return conf


def effective_conf(user_conf: Mapping[str, str]) -> dict[str, str]:
    """Defaults overridden by the user's settings; the user's JVM options keep JIT_HUGE_METHODS added."""
    conf = {**DEFAULT_CONF, **user_conf}
    for key in JAVA_OPTION_KEYS:
        if "DontCompileHugeMethods" not in conf[key]:
            conf[key] = f"{conf[key]} {JIT_HUGE_METHODS}".strip()
    return conf


def master_url(master: str | None) -> str:
    """The master to report: the option, else spark-submit's (unknown before start), else local[*]."""
    return master or ("(spark-submit)" if launched_by_submit() else "local[*]")


def require_pyspark() -> None:
    """Refuse early (before OUTPUT is created) when PySpark is not installed, naming the extra."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise PreprocError(
            "preprocessing needs PySpark (and Java 17+): pip install 'dlrmbench[preproc]' "
            "(in a checkout, make test installs it)"
        ) from None


def get_session(master: str | None, conf: Mapping[str, str]) -> tuple["SparkSession", bool]:
    """Return (session, created). `conf` holds the user's settings (defaults are added here).

    An active session in this process (tests, a notebook) is reused as it is.
    """
    require_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    if (master or "local").startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("dlrmbench-preprocess")
    if master:
        builder = builder.master(master)
    elif not launched_by_submit():
        builder = builder.master("local[*]")
    # under spark-submit its own settings win over our defaults; the user's --spark-conf wins over both
    settings = dict(conf) if launched_by_submit() else effective_conf(conf)
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:
        raise PreprocError(
            f"cannot start Spark (master {master or 'local[*]'}): {str(exc).strip().splitlines()[0][:300]}; "
            "check --master and Java (JAVA_HOME)"
        ) from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark, True


def launched_by_submit() -> bool:
    """True when this Python process was started by spark-submit (it passes the gateway to us)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


@contextmanager
def spark_settings(spark: "SparkSession", settings: dict[str, str]) -> Iterator[None]:
    """Set runtime SQL settings of `spark` for the block inside, then restore what was there (or unset)."""
    before = {k: spark.conf.get(k, None) for k in settings}
    try:
        for k, v in settings.items():
            spark.conf.set(k, v)
        yield
    finally:
        for k, v in before.items():
            if v is None:
                spark.conf.unset(k)
            else:
                spark.conf.set(k, v)


#: Lines per Arrow batch handed to the Python workers (Spark's default 10,000 costs more per-batch
#: overhead), and at most this many bytes, so a file of very long lines cannot make a huge batch.
ARROW_BATCH_ROWS = 65_536
ARROW_BATCH_BYTES = 64 << 20


def arrow_batches(spark: "SparkSession") -> "AbstractContextManager[None]":
    """The Arrow batch limits for the mapInArrow stages (restored after the block)."""
    return spark_settings(spark, {"spark.sql.execution.arrow.maxRecordsPerBatch": str(ARROW_BATCH_ROWS),
                                  "spark.sql.execution.arrow.maxBytesPerBatch": str(ARROW_BATCH_BYTES)})


def ship_by_value() -> None:
    """Send the numpy modules used inside Spark tasks with the task (executors need no `preproc` install)."""
    from pyspark import cloudpickle

    from preproc import batch_counts, lines

    for module in (lines, batch_counts):
        cloudpickle.register_pickle_by_value(module)
