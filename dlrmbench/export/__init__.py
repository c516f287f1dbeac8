"""Serving: export a trained DLRM (TorchScript, ONNX, a Triton model repository), check it against
the eager model, and benchmark it as a server would see it (latency over batch size x concurrency).

Nothing here is imported by ``import dlrmbench``; the CLI imports it lazily.
"""
