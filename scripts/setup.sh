#!/usr/bin/env bash
# Idempotent set-up of a fresh machine: a venv in .venv, the CPU build of torch first (a bare
# `torch` requirement could pull a multi-GB CUDA build), then autopeft with its dev extras.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e ".[dev]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import autopeft" 
