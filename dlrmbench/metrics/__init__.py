"""Quality metrics computed on the device: ROC AUC and log loss."""
