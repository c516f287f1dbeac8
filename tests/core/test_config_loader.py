"""Suites: expansion, defaults, and every kind of bad input refused with file, line, field and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlrmbench.config.loader import SuiteError, load_suite
from dlrmbench.errors import UserError
from tests.conftest import TINY_DEFAULTS


def test_matrix_expands_to_every_combination_with_defaults(write_suite):
    path = write_suite("name: s\n" + TINY_DEFAULTS + """
cases:
  - name: grid
    matrix:
      precision: [fp32, bf16]
      batch_size: [128, 256, 512]
  - name: single
    embedding: multi_table
""")
    loaded = load_suite(path)
    names = [c.name for c in loaded.cases]
    assert names[:2] == ["grid-fp32-128", "grid-fp32-256"]
    assert len(names) == 7 and names[-1] == "single"
    grid = {(c.precision, c.batch_size) for c in loaded.cases[:6]}
    assert grid == {(p, b) for p in ("fp32", "bf16") for b in (128, 256, 512)}
    assert all(c.device == "cpu" and c.model.embedding_dim == 8 for c in loaded.cases)
    assert loaded.cases[-1].embedding.name == "multi_table"
    assert loaded.cases[0].embedding.name == "joint"  # the schema default


def test_matrix_over_nested_field_and_plugin_options(write_suite):
    path = write_suite("name: s\n" + TINY_DEFAULTS + """
cases:
  - name: n
    matrix:
      model.interaction: [dot, cat]
      dataset.options.seed: [1, 2]
""")
    cases = load_suite(path).cases
    assert [(c.model.interaction.name, c.dataset.options["seed"]) for c in cases] == [
        ("dot", 1), ("dot", 2), ("cat", 1), ("cat", 2)]
    assert all(c.dataset.options["train_samples"] == 4096 for c in cases)  # defaults kept under the matrix


def _problems(path: Path) -> str:
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    return info.value.message


def test_unknown_key_names_line_path_and_suggests(write_suite):
    path = write_suite("name: s\n" + TINY_DEFAULTS + """
cases:
  - name: a
  - name: b
  - name: c
    batch_sise: 64
""")
    message = _problems(path)
    assert str(path) in message
    assert "cases[2].batch_sise: unknown key (did you mean \"batch_size\"?)" in message
    line = path.read_text().splitlines().index("    batch_sise: 64") + 1
    assert f"line {line}:" in message


def test_wrong_type_and_negative_batch_size(write_suite):
    path = write_suite("name: s\n" + TINY_DEFAULTS + """
cases:
  - name: a
    batch_size: -4
  - name: b
    epochs: lots
""")
    message = _problems(path)
    assert "cases[0].batch_size: Input should be greater than 0 (got -4)" in message
    assert "cases[1].epochs:" in message and "'lots'" in message


def test_invalid_choice_lists_valid_ones(write_suite):
    path = write_suite("name: s\n" + TINY_DEFAULTS + "cases:\n  - name: a\n    precision: fp33\n")
    message = _problems(path)
    assert "cases[0].precision" in message
    assert "'fp32'" in message and "'amp'" in message and "did you mean \"fp32\"" in message


def test_unknown_plugin_name_suggests_the_closest(write_suite):
    path = write_suite("name: s\n" + TINY_DEFAULTS + "cases:\n  - name: a\n    backend: eagre\n")
    message = _problems(path)
    assert "cases[0].backend: unknown backend 'eagre' (did you mean \"eager\"?)" in message
    assert "choose one of:" in message


def test_plugin_options_validated_by_the_plugins_own_model(write_suite):
    path = write_suite("name: s\n" + TINY_DEFAULTS.replace("test_samples: 1024}", "test_samples: 1024, sed: 3}")
                       + "cases:\n  - name: a\n")
    message = _problems(path)
    assert "defaults.dataset.options.sed: unknown option for dataset 'synthetic' (did you mean \"seed\"?)" in message


def test_empty_matrix_and_unknown_matrix_key(write_suite):
    path = write_suite("name: s\n" + TINY_DEFAULTS + """
cases:
  - name: a
    matrix:
      precision: []
  - name: b
    matrix:
      batchsize: [1, 2]
""")
    message = _problems(path)
    assert "cases[0].matrix.precision: empty list" in message
    assert "cases[1].matrix.batchsize: unknown field 'batchsize' (did you mean \"batch_size\"?)" in message


def test_model_consistency_is_checked(write_suite):
    path = write_suite("name: s\n" + TINY_DEFAULTS + """
cases:
  - name: a
    model: {embedding_dim: 4}
  - name: b
    model: {max_table_size: 10}
""")
    message = _problems(path)
    assert "cases[0].model.embedding_dim: embedding_dim (4) must equal the last bottom_mlp width (8)" in message
    assert "cases[1].model.max_table_size: max_table_size needs hash_indices: true" in message


def test_unsafe_suite_name_is_refused(write_suite):
    path = write_suite("name: ../escape\n" + TINY_DEFAULTS + "cases:\n  - name: a\n")
    assert "name: '../escape' is not a safe suite name" in _problems(path)


def test_yaml_is_loaded_safely(write_suite):
    path = write_suite("name: !!python/object/apply:os.system ['echo pwned']\ncases: [{name: a}]\n")
    with pytest.raises(UserError) as info:
        load_suite(path)
    assert "not valid YAML" in info.value.message and str(path) in info.value.message


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(UserError, match="no such suite file"):
        load_suite(tmp_path / "nope.yaml")
    with pytest.raises(UserError, match="is a directory"):
        load_suite(tmp_path)


def test_duplicate_case_names(write_suite):
    path = write_suite("name: s\n" + TINY_DEFAULTS + "cases:\n  - name: a\n  - name: a\n")
    assert "duplicate case name 'a'" in _problems(path)


def test_every_problem_is_reported_at_once(write_suite):
    path = write_suite("name: s\nbogus: 1\n" + TINY_DEFAULTS + "cases:\n  - name: a\n")
    message = _problems(path)
    assert "bogus: unknown key" in message
