# dlrmbench: the two commands a new user needs.
#   make run    create .venv with what the CPU quickstart needs, and run it
#   make test   add the test extras (Spark, Triton, MLPerf logging and LoadGen, plots, export, MkDocs) and run every test
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0
# `make run` installs the core only; the tests need every optional part, so `make test` adds them.
RUN_EXTRAS ?=
TEST_EXTRAS ?= test,preproc,mlperf,triton,report,export,results,docs,history,serve
BASE := $(VENV)/.installed-base
RUN_STAMP := $(VENV)/.installed-run-$(RUN_EXTRAS)
TEST_STAMP := $(VENV)/.installed-test-$(TEST_EXTRAS)

.PHONY: run test venv torchrec bench clean help

help:
	@echo "make run    - create $(VENV) (core only) and run suites/quickstart.yaml on the CPU"
	@echo "make test   - add the test extras to $(VENV) and run every test"
	@echo "make bench  - run the performance benchmarks in bench/"
	@echo "make torchrec - add the TorchRec stack (torchrec, fbgemm-gpu-cpu; TORCHREC_DEVICE=cuda for fbgemm-gpu)"

venv: $(TEST_STAMP)

# torch is pinned and installed first when none is importable, so that pip never resolves
# another (multi-GB CUDA) build while installing the rest.
$(BASE): pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip "setuptools>=77" wheel
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==$(TORCH_VERSION)
	touch $@

$(RUN_STAMP): $(BASE)
	$(PY) -m pip install -q -e ".$(if $(RUN_EXTRAS),[$(RUN_EXTRAS)])"
	touch $@

$(TEST_STAMP): $(BASE)
	$(PY) -m pip install -q -e ".[$(TEST_EXTRAS)]"
	touch $@

run: $(RUN_STAMP)
	$(VENV)/bin/dlrmbench run suites/quickstart.yaml

# TorchRec and FBGEMM pin torch by ABI, and their metadata would make pip fetch another torch and the
# CUDA fbgemm-gpu: the known-good set is installed with --no-deps after the pinned torch.
TORCHREC_DEVICE ?= cpu
TORCHREC_STAMP := $(VENV)/.installed-torchrec-$(TORCHREC_DEVICE)

torchrec: $(TORCHREC_STAMP)

$(TORCHREC_STAMP): $(TEST_STAMP) requirements/torchrec-$(TORCHREC_DEVICE).txt
	$(PY) -m pip install -q --no-deps -r requirements/torchrec-$(TORCHREC_DEVICE).txt
	touch $@

test: $(TEST_STAMP) $(TORCHREC_STAMP)
	SPARK_LOCAL_IP=$${SPARK_LOCAL_IP:-127.0.0.1} $(PY) -m pytest -q

bench: $(TEST_STAMP)
	$(PY) bench/harness_overhead.py

clean:
	rm -rf $(VENV) build *.egg-info
