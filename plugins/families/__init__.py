"""Workload families beyond the built-in DLRM (one subpackage each)."""
