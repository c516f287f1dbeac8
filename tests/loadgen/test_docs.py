"""docs/serving-loadgen.md is a contract: its example suite loads, its field names and metric names exist."""

from __future__ import annotations

import re
from pathlib import Path

from dlrmbench.config.loader import load_suite
from dlrmbench.config.schema import BatcherConfig, LoadgenConfig, SearchConfig, ServeConfig
from dlrmbench.results.metrics import VOCABULARY

DOC = Path(__file__).resolve().parents[2] / "docs" / "serving-loadgen.md"


def test_the_documented_suite_loads_with_the_documented_values(tmp_path):
    (block,) = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)
    path = tmp_path / "example.yaml"
    path.write_text(block)
    cases = {c.name: c for c in load_suite(path).cases}
    search = cases["server-search"].serve
    assert (search.target, search.scenario, search.loadgen.target_latency_ms) == ("pytorch", "server", 60)
    assert (search.batcher.max_batch_size, search.batcher.max_wait_ms, search.search.max_runs) == (256, 2, 5)
    accuracy = cases["accuracy-int8"].serve
    assert (accuracy.precision, accuracy.table_bits, accuracy.loadgen.mode) == ("int8", 4, "accuracy")


def test_every_field_and_metric_the_doc_names_exists():
    text = DOC.read_text()
    fields = set(ServeConfig.model_fields) | set(LoadgenConfig.model_fields) | set(BatcherConfig.model_fields) \
        | set(SearchConfig.model_fields)
    for name in ("target_qps", "target_latency_ms", "latency_percentile", "min_duration_ms", "max_duration_ms",
                 "min_query_count", "max_query_count", "samples_per_query", "performance_sample_count",
                 "max_batch_size", "max_wait_ms", "workers", "lower_qps", "upper_qps", "max_runs", "tolerance",
                 "rows_per_sample", "aggregation", "table_bits"):
        assert f"`{name}`" in text and name in fields, name
    for metric in re.findall(r"`((?:loadgen|serving)_[a-z0-9_.]+)`", text):
        if metric.endswith("_"):
            continue
        assert metric in VOCABULARY, metric
