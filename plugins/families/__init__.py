"""Built-in workload families (registration modules light; implementations import torch)."""
