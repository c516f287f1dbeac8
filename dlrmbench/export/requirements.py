"""What a serving case needs installed, asked before anything heavy is imported (the planner's check).

Light: no torch, no onnx import; only ``importlib.util.find_spec``.
"""

from __future__ import annotations

import functools

from dlrmbench.config.schema import ServeConfig

EXPORT_MODULES = ("onnx", "onnxscript", "onnxruntime")


def triton_install(protocol: str) -> str:
    """How to install tritonclient for ``protocol``: the export extra brings its HTTP client; gRPC is
    tritonclient's own extra."""
    return "pip install 'dlrmbench[export]'" if protocol == "http" else "pip install 'tritonclient[grpc]'"


def _needs(serve: ServeConfig) -> dict[str, str]:
    """module -> how to install it, for what ``serve`` runs."""
    needs: dict[str, str] = {}
    if serve.target == "onnxruntime" or (serve.target == "triton" and (serve.check or serve.export_to)):
        needs.update((m, "pip install 'dlrmbench[export]'") for m in EXPORT_MODULES)
    if serve.scenario is not None:
        needs["mlperf_loadgen"] = "pip install 'dlrmbench[serve]'"
    if serve.target == "triton":
        needs["tritonclient"] = triton_install(serve.protocol)
        if serve.protocol == "grpc":  # tritonclient without its grpc extra imports, then raises at tritonclient.grpc
            needs["grpc"] = triton_install("grpc")
    return needs


def _reason(serve: ServeConfig, needs: dict[str, str], missing: list[str]) -> str:
    if "tritonclient" in missing:  # its grpc support comes with it: name the package only
        missing = [m for m in missing if m != "grpc"]
    how = " and ".join(dict.fromkeys(needs[m] for m in missing))
    return (f"serve target {serve.target}: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not "
            f"installed ({how})")


def require_modules(serve: ServeConfig) -> None:
    """Import what ``serve`` needs (in the worker, before exporting); a module that fails to import (found by
    the planner but broken, or removed since) raises :class:`~dlrmbench.errors.UserError` naming the extra."""
    import importlib

    from dlrmbench.errors import UserError

    needs = _needs(serve)
    missing = []
    for module in needs:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise UserError(_reason(serve, needs, missing))


def missing_modules_reason(serve: ServeConfig) -> str | None:
    """Why the case's serving target cannot run here (a module it needs is not installed), or None.

    An export with an ONNX model (the ``onnxruntime`` target; the ``triton`` target when it exports, for
    ``check`` or ``export_to``) needs the ``export`` extra; the ``triton`` target needs ``tritonclient``;
    the ``torchscript`` target needs only torch.
    """
    import importlib.util

    needs = _needs(serve)
    missing = [m for m in needs if importlib.util.find_spec(m) is None]
    return _reason(serve, needs, missing) if missing else None



@functools.lru_cache(maxsize=1)
def onnxruntime_bf16_reason() -> str | None:
    """Why ONNX Runtime's CPU execution provider (what the ``onnxruntime`` target runs) cannot run a bfloat16
    graph here, or None: found by loading a one-node bfloat16 ``Gemm`` (the exported ``nn.Linear``), not assumed."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    bf16 = TensorProto.BFLOAT16
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["a", "b"], ["c"], transB=1)], "bf16_probe",
        [helper.make_tensor_value_info("a", bf16, [1, 2]), helper.make_tensor_value_info("b", bf16, [2, 2])],
        [helper.make_tensor_value_info("c", bf16, [1, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    try:
        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's NOT_IMPLEMENTED: no kernel for this type
        why = (str(exc).splitlines() or [type(exc).__name__])[0].split(" : ")[-1][:160]
        return f"onnxruntime {ort.__version__}'s CPU execution provider cannot run bfloat16 graphs ({why})"
    return None
