"""The DLRM workload run inside a worker: data, precision, training, evaluation, inference."""
