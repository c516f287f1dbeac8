"""The suites shipped with dlrmbench, installed as package data (``dlrmbench suites`` lists them)."""
