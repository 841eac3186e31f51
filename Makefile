# Developer shortcuts; the README's two commands are the source of truth.
PY := .venv/bin/python

.PHONY: setup dev test lint typecheck protos ci

setup:
	bash scripts/setup.sh

dev: setup
	.venv/bin/llmops dev

test: setup
	.venv/bin/pytest

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

typecheck:
	.venv/bin/mypy libs services scripts training

protos:
	$(PY) scripts/gen_asyncapi.py
	$(PY) scripts/gen_protos.py

ci:
	bash .ci/run
