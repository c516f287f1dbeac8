"""Package discovery: the built-in plugins in plugins/ install under the import name dlrmbench_plugins."""

from setuptools import find_packages, setup

core = find_packages(include=["dlrmbench", "dlrmbench.*", "preproc", "preproc.*"])
builtin_plugins = ["dlrmbench_plugins"] + [f"dlrmbench_plugins.{p}" for p in find_packages("plugins")]

setup(packages=core + builtin_plugins, package_dir={"dlrmbench_plugins": "plugins"})
