# The two commands: `make report` and `make test`. Both create .venv on first use and reinstall
# only when pyproject.toml changes. One switch picks the config for everything:
#   make report CONFIG=configs/real.toml      (or: export ISLANDVAE_CONFIG=configs/real.toml)

CONFIG ?= $(or $(ISLANDVAE_CONFIG),configs/default.toml)
export ISLANDVAE_CONFIG := $(abspath $(CONFIG))

PYTHON ?= python3
# torch's version: [tool.islandvae] torch in pyproject.toml, the one place it is named
TORCH ?= torch==$(shell sed -n 's/^torch = "\([^"]*\)".*/\1/p' pyproject.toml)
INSTALLER ?= uv
VENV := .venv
PY := $(VENV)/bin/python
READY := $(VENV)/.ready
PIP := $(PY) -m pip --quiet --disable-pip-version-check

.PHONY: report test test-quick data train analysis levers robustness zip venv show-config clean help

help:
	@echo "make report   set up, make the data if missing, train (once), analyse, render HTML and PDF into _output/"
	@echo "make test     set up, then run the whole test suite (what CI runs)"
	@echo "make test-quick  the tests not marked slow: no training, no renders (everyday work)"
	@echo "make data     set up, then generate the configured synthetic data file if it is missing"
	@echo "make train    set up, make the data, train the config's model unless its run is finished"
	@echo "make analysis compute and cache chapter 5's embeddings, 2-D maps and scores (part of make report)"
	@echo "make zip      pack handin/project01_<usernames>.zip from the rendered report (team.toml); never overwrites"
	@echo "make levers   train and score chapter 5's lever runs (about 70 min on 2 cores); writes results/"
	@echo "make robustness  the pipeline trained and scored on eight other stand-ins, levers on two (about 75 min on 2 cores); writes results/"
	@echo "CONFIG=...    config to use (now: $(ISLANDVAE_CONFIG))"
	@echo "INSTALLER=pip set up .venv with pip alone instead of uv (now: $(INSTALLER)); for a pip set to another index"

# Quarto where it is installed (its Jupyter kernel is this .venv's Python), the pip-only renderer elsewhere.
# A config other than the default renders into _output/<name>/ (islandvae render --print-output-dir says where).
report: data train analysis
	@if command -v quarto >/dev/null 2>&1; then \
		out="$$($(PY) -m islandvae render --print-output-dir)"; \
		echo "rendering with Quarto ($$(command -v quarto)) into $$out"; \
		QUARTO_PYTHON=$(abspath $(PY)) quarto render --output-dir "$$out"; \
	else \
		echo "quarto not found: rendering with the pip-only renderer (islandvae render)"; $(PY) -m islandvae render; \
	fi

data: $(READY)
	$(PY) -m islandvae data

# Train (or resume) the config's model and the overfitting check, with progress bars; a finished run is kept.
train: data
	$(PY) -m islandvae train --overfit
	$(PY) -m islandvae train
	$(PY) -m islandvae train --comparisons

# Chapter 5's embeddings, 2-D maps and scores, cached in the run folders (the render reads them).
analysis: train
	$(PY) -m islandvae analyse

# The hand-in zip from what `make report` rendered; a second call writes the _v2 version.
zip: $(READY)
	$(PY) -m islandvae zip

# Chapter 5's levers: one config change per run at the full budget, then the table in results/.
levers: train
	$(PY) -m islandvae train --levers
	$(PY) -m islandvae levers

# Chapter 5's robustness table: the same pipeline on eight other stand-ins, each generated, trained and scored once.
robustness: train
	$(PY) -m islandvae robustness

test: $(READY)
	$(PY) -m pytest

test-quick: $(READY)
	$(PY) -m pytest -m "not slow"

venv: $(READY)

# torch first, pinned, with pip (an unpinned torch would pull several GB of CUDA packages on a CPU machine, and
# pip finds a local CPU wheel where there is one); then the project and its dependencies with uv, which downloads
# and installs in parallel (30 s against pip's 97 s on 2 cores). uv reads no pip.conf: INSTALLER=pip (for a pip
# configured with another index) uses pip throughout, and pip takes over when uv fails. Byte-compiling runs last,
# on every core; files this Python cannot compile (a few of torch's tests) are skipped, as pip skips them.
$(READY): pyproject.toml
	@case "$(INSTALLER)" in uv|pip) ;; *) echo "make: INSTALLER=$(INSTALLER) is unknown; use uv or pip" >&2; exit 2;; esac
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --no-compile "$(TORCH)"
	@if [ "$(INSTALLER)" = uv ] && $(PIP) install --no-compile uv \
			&& $(VENV)/bin/uv pip install --quiet --python $(PY) -e '.[dev]'; then \
		echo "installed the project and its dependencies with uv"; \
	else \
		[ "$(INSTALLER)" != uv ] || echo "uv could not install the project: installing it with pip"; \
		$(PIP) install --no-compile -e '.[dev]'; \
	fi
	$(PY) -m compileall -qq -j0 "$$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" || true
	@touch $@

show-config:
	@echo $(ISLANDVAE_CONFIG)

clean:
	rm -rf cache _output .jupyter_cache .pytest_cache
