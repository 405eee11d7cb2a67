# The two commands a new user runs (see README): `make demo` and `make test`.
# Everything is installed into .venv from pyproject.toml; nothing needs to be installed by hand.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin

# Tests marked slow (the quick training run, about 15 minutes; live servers and CLI subprocesses, Ray, fuzzing,
# crash and kill tests) run in CI (CI=true) and with `make test-slow`.
PYTEST_ARGS ?= $(if $(filter true,$(CI)),,-m "not slow")

.PHONY: demo serve test test-slow lint typecheck unit install install-dev clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Re-install whenever pyproject.toml changes.
$(VENV)/.installed-main: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[serve,train]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[serve,train,dev]'
	touch $@ $(VENV)/.installed-main

install: $(VENV)/.installed-main
install-dev: $(VENV)/.installed-dev

## The main job: build the corpus from ../shared/datasets (TRIAGE_DATASETS_DIR to change it), fine-tune
## the quick profile, export to ONNX (fp32 + int8), calibrate, register in MLflow as `challenger`, then
## serve it (see `serve`).
demo: install
	$(BIN)/triage data build
	$(BIN)/triage train --profile quick --run-name demo
	$(BIN)/triage export --run-name demo
	$(MAKE) serve

DEMO_KEY := var/demo-intake.key
SESSION_SECRET := var/session.secret
PORT ?= 8000

## Serve the registry's champion, or the challenger while nothing has been promoted, on 127.0.0.1:$(PORT).
## Creates an intake key for the demo once (var/demo-intake.key, readable by you only).
serve: install
	@mkdir -p var
	@test -s $(DEMO_KEY) || (umask 077; $(BIN)/triage keys create --name demo-intake --role intake > $(DEMO_KEY))
	@test -s $(SESSION_SECRET) || (umask 077; $(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(32))' > $(SESSION_SECRET))
	@echo
	@echo "Scoring API on http://127.0.0.1:$(PORT) (OpenAPI docs at /docs). In another shell:"
	@echo
	@echo "  curl -s http://127.0.0.1:$(PORT)/v1/reports:score -H \"Authorization: Bearer \$$(cat $(DEMO_KEY))\" \\"
	@echo "       -H 'content-type: application/json' -d '{\"report_id\": \"demo-1\", \"text\": \"I know where you live and I am coming for you\"}'"
	@echo
	@echo "Review console: http://127.0.0.1:$(PORT)/review, signed in with a reviewer key:"
	@echo "  $(BIN)/triage keys create --name \$$USER --role reviewer"
	@echo
	TRIAGE_MODEL_FALLBACK_ALIAS=$${TRIAGE_MODEL_FALLBACK_ALIAS-challenger} \
	TRIAGE_SESSION_SECRET=$$(cat $(SESSION_SECRET)) $(BIN)/triage serve --port $(PORT)

## The test suite: lint, type check, then every test (the real-data tests included).
test: install-dev lint typecheck unit

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/hadolint --config .hadolint.yaml Dockerfile deploy/mlflow/Dockerfile

typecheck: install-dev
	$(BIN)/mypy

unit: install-dev
	$(BIN)/pytest $(PYTEST_ARGS)

test-slow: install-dev
	$(BIN)/pytest -m slow

clean:
	rm -rf $(VENV) var
