# Set-up and everyday commands. Each target creates or updates .venv as needed, so a fresh
# Linux machine with Python 3.11 needs nothing installed by hand.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch is installed on its own first, pinned, so pip takes the release this machine has on disk
# instead of resolving a different (multi-GB) build through the `train` extra.
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

.PHONY: demo test lint bench bundle clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The viewer alone (what the bundle ships): no torch.
$(VENV)/.viewer-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# Everything: viewer, trainer (torch) and the test tools.
$(VENV)/.all-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH_PINS)
	$(BIN)/pip install --quiet -e '.[train,dev]'
	touch $@ $(VENV)/.viewer-installed

## Open the viewer on the bundled demo study (headless: saves a screenshot and prints the findings).
demo: $(VENV)/.viewer-installed
	$(BIN)/cxr-viewer --demo

## Create the environment with every extra, check the layer rules, run the whole test suite.
test: $(VENV)/.all-installed
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

lint: $(VENV)/.all-installed
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) build dist .pytest_cache
