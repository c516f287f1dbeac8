"""Exports shared by the serving tests: built once per session (the dynamo ONNX exporter takes
seconds per graph), one-graph and split, from two embedding strategies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("onnxruntime", reason="the export extra is not installed: pip install -e '.[export]'")

TABLES = [10, 200, 3000, 7, 1]


def small_case(embedding: str = "joint", hash_indices: bool = False, **model: Any) -> Any:
    from dlrmbench.config.schema import Case

    spec = {"bottom_mlp": [16, 8], "top_mlp": [32, 16, 1], "embedding_dim": 8, "table_sizes": TABLES,
            "hash_indices": hash_indices, **model}
    return Case.model_validate({"name": "small", "device": "cpu", "embedding": embedding, "model": spec, "seed": 3})


def _export(root: Path, name: str, case: Any, split: str) -> tuple[Any, Path, dict[str, Any]]:
    from dlrmbench.export.exporter import ExportSettings, export
    from dlrmbench.export.source import build_export_model

    model, source = build_export_model(case, None)
    out = root / name
    manifest = export(model, source, ExportSettings(output=out, split=split, check=True))  # type: ignore[arg-type]
    return model, out, manifest


@pytest.fixture(scope="session")
def whole_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path, dict[str, Any]]:
    """joint tables, dot interaction, one graph per format."""
    return _export(tmp_path_factory.mktemp("export"), "whole", small_case("joint"), "never")


@pytest.fixture(scope="session")
def split_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path, dict[str, Any]]:
    """multi_table tables with hashed ids, cat interaction, sparse + dense + ensemble per format."""
    case = small_case("multi_table", hash_indices=True, interaction="cat")
    return _export(tmp_path_factory.mktemp("export"), "split", case, "always")
