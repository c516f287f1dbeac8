"""Package discovery: the built-in plugins in plugins/ install under the import name dlrmbench_plugins, and
the shipped suites in suites/ as package data under dlrmbench_suites (so `dlrmbench run quickstart` works
after a plain `pip install`)."""

from setuptools import find_packages, setup

core = find_packages(include=["dlrmbench", "dlrmbench.*", "preproc", "preproc.*"])
builtin_plugins = ["dlrmbench_plugins"] + [f"dlrmbench_plugins.{p}" for p in find_packages("plugins")]

setup(packages=core + builtin_plugins + ["dlrmbench_suites"],
      package_dir={"dlrmbench_plugins": "plugins", "dlrmbench_suites": "suites"},
      package_data={"dlrmbench_suites": ["*.yaml"]})
