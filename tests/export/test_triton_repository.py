"""Every config.pbtxt, parsed with Triton's own ModelConfig protobuf, names exactly the exported
model's inputs and outputs, with their types and per-sample dims."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ONNX_TYPES = {1: "TYPE_FP32", 7: "TYPE_INT64"}  # onnx.TensorProto.FLOAT, INT64


def _model_config_proto():
    """tritonclient ships Triton's model_config.proto compiled; load it without importing grpc."""
    spec = importlib.util.find_spec("tritonclient")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("tritonclient is part of the export extra: pip install -e '.[export]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "grpc" / "model_config_pb2.py"
    module_spec = importlib.util.spec_from_file_location("triton_model_config_pb2", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def _parse(path: Path):
    from google.protobuf import text_format

    pb2 = _model_config_proto()
    config = text_format.Parse(path.read_text(), pb2.ModelConfig())
    return config, pb2


def _io(config, pb2):
    name = pb2.DataType.Name
    return ([(t.name, name(t.data_type), list(t.dims)) for t in config.input],
            [(t.name, name(t.data_type), list(t.dims)) for t in config.output])


def _onnx_io(file: Path):
    import onnx

    graph = onnx.load(str(file)).graph

    def spec(v):
        dims = [d.dim_value for d in v.type.tensor_type.shape.dim]
        return (v.name, ONNX_TYPES[v.type.tensor_type.elem_type], dims[1:])  # Triton dims exclude the batch

    return [spec(v) for v in graph.input], [spec(v) for v in graph.output]


def _torchscript_io(file: Path, config_inputs):
    import torch

    module = torch.jit.load(str(file))
    args = [a.name for a in module.forward.schema.arguments][1:]  # without self
    return args, [n for n, _, _ in config_inputs]


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("which", ["whole_export", "split_export"])
def test_each_model_config_names_exactly_the_exported_graph_tensors(request, which):
    _, out, manifest = request.getfixturevalue(which)
    repo = out / manifest["repository"]
    for fmt, entry in manifest["models"].items():
        for part, info in entry["parts"].items():
            file = out / info["file"]
            config, pb2 = _parse(file.parent.parent / "config.pbtxt")
            assert config.name == file.parent.parent.name and file.parent.name == "1"
            assert config.platform == {"onnx": "onnxruntime_onnx", "torchscript": "pytorch_libtorch"}[fmt]
            inputs, outputs = _io(config, pb2)
            if fmt == "onnx":
                assert (inputs, outputs) == _onnx_io(file)
            else:
                args, names = _torchscript_io(file, inputs)
                assert names == [f"{a}__{i}" for i, a in enumerate(args)]  # the PyTorch backend's convention
                assert len(outputs) == 1 and outputs[0][0].endswith("__0")
            assert config.max_batch_size == manifest["batching"]["max_batch_size"]
            assert config.dynamic_batching.max_queue_delay_microseconds == manifest["batching"]["max_queue_delay_us"]
            kind = pb2.ModelInstanceGroup.Kind.Name(config.instance_group[0].kind)
            assert kind == ("KIND_CPU" if part == "sparse" else "KIND_GPU")
        assert sorted(p.name for p in repo.iterdir()) == sorted(
            {m["model"] for m in manifest["models"].values()}
            | {Path(p["file"]).parent.parent.name for m in manifest["models"].values() for p in m["parts"].values()})


def test_the_ensemble_chains_sparse_into_dense_with_the_one_graph_interface(split_export, whole_export):
    _, out, manifest = split_export
    _, whole_out, whole_manifest = whole_export
    for fmt, entry in manifest["models"].items():
        config, pb2 = _parse(out / "triton" / entry["model"] / "config.pbtxt")
        assert config.platform == "ensemble" and (out / "triton" / entry["model"] / "1").is_dir()
        inputs, outputs = _io(config, pb2)
        assert [n for n, _, _ in inputs] == ["numerical", "categorical"] and [n for n, _, _ in outputs] == ["logit"]
        # the ensemble takes what the one-graph ONNX model takes (dims differ only by the table count)
        whole_inputs, _ = _io(*_parse(whole_out / "triton" / "dlrm" / "config.pbtxt"))
        assert [(n, t) for n, t, _ in inputs] == [(n, t) for n, t, _ in whole_inputs]
        available = {n for n, _, _ in inputs}
        for step in config.ensemble_scheduling.step:
            step_config, _ = _parse(out / "triton" / step.model_name / "config.pbtxt")
            step_in, step_out = _io(step_config, pb2)
            assert set(step.input_map) == {n for n, _, _ in step_in}
            assert set(step.output_map) == {n for n, _, _ in step_out}
            assert set(step.input_map.values()) <= available  # every tensor exists before it is consumed
            available |= set(step.output_map.values())
        assert "logit" in available
