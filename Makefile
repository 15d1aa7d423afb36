# make demo: set up .venv and run the main job; make test: set up and run the test suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SOURCES := pyproject.toml setup.py $(wildcard neurocodec/entropy/csrc/*.h neurocodec/entropy/csrc/*.cpp)

.PHONY: install test test-all demo bench clean

$(STAMP): $(SOURCES)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m ''

demo: $(STAMP)
	$(BIN)/neurocodec demo

bench: $(STAMP)
	$(BIN)/python benchmarks/entropy.py

clean:
	rm -rf build *.egg-info neurocodec/entropy/*.so
