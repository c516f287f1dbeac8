"""The DLRM workload's model: MLPs, interactions, embeddings and their assembly (imports torch)."""
