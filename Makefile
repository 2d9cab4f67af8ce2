# Set-up and the two everyday commands. `make demo` restores the sample reel; `make test` runs the tests.
# Both create the virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
# The CPU build of torch. For an NVIDIA GPU, point pip at PyTorch's CUDA wheel index first
# (see README, "GPU"); the rest of the install is the same.
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: venv demo test test-fast lint bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: venv
	rm -rf out/demo
	$(BIN)/restoration restore sample_reels/bbb_damaged.mkv --out out/demo
	$(BIN)/restoration status out/demo/bbb_damaged.zarr

test: venv
	$(BIN)/python -m pytest -q -n auto --dist loadfile

# Everything but the end-to-end tests marked slow (the sample reel through Prefect, the browser).
test-fast: venv
	$(BIN)/python -m pytest -q -n auto --dist loadfile -m "not slow"

# What .ci/run and the pre-commit hooks check: lint, format, types.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) out
