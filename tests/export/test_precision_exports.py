"""Exports in a serving precision (bf16, int8 with 8- or 4-bit tables): what they compute, what the manifest
records, and a ``--check`` whose tolerance fits the precision and still fails a wrong model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from dlrmbench.export.check import TOLERANCES, Predictor, check_export, random_inputs
from tests.export.conftest import TABLES, small_case


def _export(root: Path, precision: str, bits: int, formats: tuple[str, ...], split: str = "never",
            seed: int = 3) -> tuple[Any, Path, dict[str, Any]]:
    from dlrmbench.export.exporter import ExportSettings, export
    from dlrmbench.export.source import build_export_model

    case = small_case("joint").model_copy(update={"seed": seed})
    model, source = build_export_model(case, None)
    out = root / f"{precision}-{bits}-{split}"
    settings = ExportSettings(output=out, formats=formats, split=split, check=True,  # type: ignore[arg-type]
                              precision=precision, table_bits=bits)  # type: ignore[arg-type]
    return model, out, export(model, source, settings)


@pytest.fixture(scope="module")
def int8_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path, dict[str, Any]]:
    """int8 with 8-bit tables, one graph, both formats."""
    return _export(tmp_path_factory.mktemp("int8"), "int8", 8, ("onnx", "torchscript"))


def _eager(model: Any, numerical: np.ndarray, categorical: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(numerical), torch.from_numpy(categorical)).numpy().reshape(-1, 1)


def test_int8_export_records_its_precision_and_passes_the_int8_check(int8_export):
    _, out, manifest = int8_export
    precision = manifest["precision"]
    assert precision["name"] == "int8" and precision["table_bits"] == 8
    assert precision["served_table_bytes"] == sum(TABLES) * (8 + 8)  # dim 8 codes + float32 scale and bias a row
    assert json.loads((out / "export.json").read_text())["precision"] == precision
    for fmt in ("onnx", "torchscript"):
        check = manifest["check"][fmt]
        assert check["tolerance_key"] == "int8-8bit" and check["passed"] is True
        # quantisation changes the numbers (beyond fp32's tolerance) and stays within int8's
        assert TOLERANCES["fp32"] < check["max_abs_diff"] <= check["tolerance"], (fmt, check)
    same = manifest["check"]["torchscript"]["same_precision"]  # the pytorch target's int8 graph: the same ops
    assert same["passed"] is True and same["max_abs_diff"] <= 1e-6 and same["tolerance"] == TOLERANCES["fp32"]
    assert "same_precision" not in manifest["check"]["onnx"]  # onnxruntime quantises its MLPs its own way


def test_the_int8_check_fails_a_model_that_is_not_the_exported_one(int8_export):
    """The tolerance is loose enough for quantisation, not for another model: the same export checked against
    a model of another seed fails, and checked as if it were fp32 it fails too."""
    from dlrmbench.export.source import build_export_model

    _, out, manifest = int8_export
    other, _ = build_export_model(small_case("joint").model_copy(update={"seed": 4}), None)
    assert all(r["passed"] is False for r in check_export(other, out, manifest).values())
    model = int8_export[0]
    as_fp32 = {**manifest, "precision": {"name": "fp32", "table_bits": None}}
    report = check_export(model, out, as_fp32)
    assert all(r["passed"] is False and r["tolerance_key"] == "fp32" for r in report.values())


def test_a_torchscript_export_of_other_table_bits_fails_the_same_precision_row(tmp_path):
    """A 4-bit export whose manifest says 8 bits is within int8's loose row against fp32, but not within the
    TorchScript check's fp32-tight row against eager int8 with 8-bit tables: the check fails it."""
    model, out, manifest = _export(tmp_path, "int8", 4, ("torchscript",))
    claimed = {**manifest, "precision": {**manifest["precision"], "table_bits": 8}}
    check = check_export(model, out, claimed)["torchscript"]
    assert check["max_abs_diff"] <= check["tolerance"]  # the fp32 row alone would pass it
    assert check["same_precision"]["passed"] is False and check["passed"] is False


def test_int8_graphs_hold_int8_weights_and_quantised_matmuls(int8_export):
    import onnx

    _, out, manifest = int8_export
    graph = onnx.load(str(out / manifest["models"]["onnx"]["parts"]["model"]["file"])).graph
    ops = [n.op_type for n in graph.node]
    weights = {i.name: i for i in graph.initializer}
    # every MatMul left in float multiplies two activations (the dot interaction), none a weight
    assert not [n for n in graph.node if n.op_type == "MatMul" and any(i in weights for i in n.input)]
    assert "DynamicQuantizeLinear" in ops and "MatMulInteger" in ops
    uint8 = [w for w in weights.values() if w.data_type == onnx.TensorProto.UINT8 and list(w.dims) == [sum(TABLES), 8]]
    assert len(uint8) == 1  # the row-wise codes of the joint table
    script = torch.jit.load(str(out / manifest["models"]["torchscript"]["parts"]["model"]["file"]))
    code = script.inlined_graph.str() if hasattr(script, "inlined_graph") else str(script.graph)
    assert "quantized::linear_dynamic" in code and "quantized::embedding_bag_byte_rowwise_offsets" in code


def test_torchscript_int8_export_computes_what_eager_int8_serving_computes(int8_export):
    from dlrmbench.export.serving_model import serving_parts
    from dlrmbench.export.serving_precision import in_precision

    model, out, manifest = int8_export
    served = in_precision(serving_parts(model, "dot").whole(), "int8", 8)
    predictor = Predictor(out, manifest["models"]["torchscript"], "torchscript")
    numerical, categorical = random_inputs(manifest["model"], 65, seed=21)
    want = _eager(served, numerical, categorical)
    assert np.max(np.abs(predictor.predict(numerical, categorical) - want)) <= 1e-6


@pytest.mark.parametrize("hotness", [None, [2, 1, 3, 1, 2]])
@pytest.mark.parametrize("bits", [8, 4])
def test_the_onnx_row_wise_tables_give_fbgemms_numbers(hotness, bits):
    """The portable graph of the ONNX export against FBGEMM's quantised embedding bags on the same packed rows."""
    from dlrmbench.export.serving_model import SparseLookup
    from dlrmbench.export.serving_precision import QuantizedSparseLookup, RowwiseTables

    torch.manual_seed(1)
    tables = [torch.randn(n, 6) * (f + 1) for f, n in enumerate(TABLES)]  # tables of different ranges
    sparse = SparseLookup(tables, hash_indices=True, hotness=hotness)
    ids = torch.randint(0, 6000, (33, int(sparse.offsets.numel())))
    want = QuantizedSparseLookup(sparse, bits)(ids)
    got = RowwiseTables(sparse, bits)(ids)
    assert got.shape == want.shape == sparse(ids).shape
    assert float((got - want).abs().max()) <= 1e-5 * max(1.0, float(want.abs().max()))
    assert float((got - sparse(ids)).abs().max()) > 0  # quantised: not the float tables


def test_4bit_tables_of_an_odd_dim_are_refused_with_the_fix():
    from dlrmbench.export.serving_model import SparseLookup
    from dlrmbench.export.serving_precision import RowwiseTables

    with pytest.raises(ValueError, match="the embedding dim must be even .it is 5.; use table_bits: 8"):
        RowwiseTables(SparseLookup([torch.randn(4, 5)], hash_indices=False), 4)


def test_int8_4bit_split_export_checks_both_parts(tmp_path):
    model, out, manifest = _export(tmp_path, "int8", 4, ("onnx",), split="always")
    assert manifest["split"] is True and manifest["precision"]["table_bits"] == 4
    check = manifest["check"]["onnx"]
    assert check["tolerance_key"] == "int8-4bit" and check["passed"] is True
    assert check["max_abs_diff"] > TOLERANCES["fp32"]


def test_bf16_export_checks_where_the_runtime_has_bf16_and_says_why_not_elsewhere(tmp_path):
    from dlrmbench.export.requirements import onnxruntime_bf16_reason

    _, out, manifest = _export(tmp_path, "bf16", 8, ("onnx", "torchscript"))
    assert manifest["precision"]["name"] == "bf16" and manifest["precision"]["table_bits"] is None
    script = manifest["check"]["torchscript"]  # TorchScript runs bf16 everywhere (emulated without native bf16)
    assert script["passed"] is True and TOLERANCES["fp32"] < script["max_abs_diff"] <= script["tolerance"]
    onnx_check, why = manifest["check"]["onnx"], onnxruntime_bf16_reason()
    if why is None:
        assert onnx_check["passed"] is True
    else:
        assert onnx_check["passed"] is None and onnx_check["skipped"] == why and "bfloat16" in why
    assert (out / manifest["models"]["onnx"]["parts"]["model"]["file"]).is_file()  # written for other runtimes


def test_a_manifest_with_an_unknown_precision_is_refused(int8_export, tmp_path):
    from dlrmbench.errors import UserError
    from dlrmbench.export.exporter import read_manifest

    _, out, _ = int8_export
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    manifest = json.loads((copy / "export.json").read_text())
    manifest["precision"] = {"name": "int8", "table_bits": 2}
    (copy / "export.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="precision must name fp32, bf16 or int8 .int8 with table_bits 8 or 4."):
        read_manifest(copy)


def test_the_serving_guide_states_the_checks_tolerances():
    """docs/guides/serving.md's tolerance table is dlrmbench.export.check.TOLERANCES, row for row."""
    import re

    from tests.conftest import REPO

    page = (REPO / "docs/guides/serving.md").read_text()
    rows = dict(re.findall(r"^\s*\| (fp32|bf16|int8-\dbit) \| ([0-9.e-]+) \|$", page, flags=re.M))
    assert {key: float(value) for key, value in rows.items()} == TOLERANCES


def test_export_takes_the_precision_from_the_case_and_the_command_line_overrides_it(tmp_path):
    from click.testing import CliRunner

    from dlrmbench.cli import make_cli

    suite = tmp_path / "suite.yaml"
    suite.write_text("""
name: exp
defaults: {device: cpu, embedding: joint, mode: serve, model: {bottom_mlp: [16, 8], top_mlp: [8, 1],
           embedding_dim: 8, table_sizes: [10, 200, 7]}}
cases:
  - {name: int8-4bit, serve: {target: torchscript, precision: int8, table_bits: 4}}
""")

    def export(out: str, *extra: str) -> Any:
        args = ["export", "-o", str(tmp_path / out), "--suite", str(suite), "--case", "int8-4bit",
                "--format", "torchscript", "--check", *extra]
        return CliRunner().invoke(make_cli(), args, catch_exceptions=False)

    result = export("case")
    assert result.exit_code == 0, result.output
    assert "(int8, 4-bit tables; one graph;" in result.output and "check torchscript:" in result.output
    assert json.loads((tmp_path / "case/export.json").read_text())["precision"]["table_bits"] == 4
    result = export("fp32", "--precision", "fp32")
    assert result.exit_code == 0 and json.loads((tmp_path / "fp32/export.json").read_text())["precision"] == {
        "name": "fp32", "table_bits": None, "method": "float32 as trained", "served_table_bytes": 217 * 8 * 4}
    result = export("bad", "--precision", "bf16", "--table-bits", "4")
    assert result.exit_code == 2 and "--table-bits applies to --precision int8 (this export is bf16)" in result.output
    assert not (tmp_path / "bad").exists()
