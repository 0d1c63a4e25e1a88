# Two entry points: `make demo` runs the station on its embedded default,
# `make test` runs the test suite. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/ktp-agent: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

.PHONY: demo run test
demo: $(BIN)/ktp-agent
	$(BIN)/ktp-agent demo --cards $(or $(CARDS),5)

run: $(BIN)/ktp-agent
	$(BIN)/ktp-agent run --config config/agent.toml

test: $(BIN)/ktp-agent
	$(BIN)/python -m pytest $(PYTEST_ARGS)
