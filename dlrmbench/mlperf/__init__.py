"""MLPerf Training artefacts for DLRMv2 (``dlrm_dcnv2``): MLLOG files and submission packages."""
