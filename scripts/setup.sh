#!/usr/bin/env bash
# Creates .venv in the repository root and installs the platform with every extra (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.llmops-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip wheel
  # torch is pinned to the CPU build; llama-cpp-python compiles from source the first time (~6 min on 2 cores).
  .venv/bin/python -m pip install --quiet -e ".[dev]"
  touch "$stamp"
fi
