# dlrmbench: the two commands a new user needs.
#   make run    create .venv and run the CPU quickstart suite
#   make test   create .venv and run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0
EXTRAS ?= test,preproc,mlperf,triton,report,export
STAMP := $(VENV)/.installed-$(EXTRAS)

.PHONY: run test venv torchrec bench clean help

help:
	@echo "make run    - create $(VENV) and run suites/quickstart.yaml on the CPU"
	@echo "make test   - create $(VENV) and run the tests"
	@echo "make bench  - run the performance benchmarks in bench/"
	@echo "make torchrec - add the TorchRec stack (torchrec, fbgemm-gpu-cpu; TORCHREC_DEVICE=cuda for fbgemm-gpu)"

venv: $(STAMP)

# torch is pinned and installed first when none is importable, so that pip never resolves
# another (multi-GB CUDA) build while installing the rest.
$(STAMP): pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip "setuptools>=70" wheel
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==$(TORCH_VERSION)
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

# TorchRec and FBGEMM pin torch by ABI, and their metadata would make pip fetch another torch and the
# CUDA fbgemm-gpu: the known-good set is installed with --no-deps after the pinned torch.
TORCHREC_DEVICE ?= cpu
TORCHREC_STAMP := $(VENV)/.installed-torchrec-$(TORCHREC_DEVICE)

torchrec: $(TORCHREC_STAMP)

$(TORCHREC_STAMP): $(STAMP) requirements/torchrec-$(TORCHREC_DEVICE).txt
	$(PY) -m pip install -q --no-deps -r requirements/torchrec-$(TORCHREC_DEVICE).txt
	touch $@

run: $(STAMP)
	$(VENV)/bin/dlrmbench run suites/quickstart.yaml

test: $(STAMP) $(TORCHREC_STAMP)
	SPARK_LOCAL_IP=$${SPARK_LOCAL_IP:-127.0.0.1} $(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/harness_overhead.py

clean:
	rm -rf $(VENV) build *.egg-info
