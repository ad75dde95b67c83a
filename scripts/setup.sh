#!/usr/bin/env bash
# Idempotent set-up of a fresh machine: a venv in .venv, the CPU build of torch first (a bare
# `torch` requirement would pull a multi-GB CUDA build), then autopeft with its dev extras, and
# the Debian packages the embedded vision data and the report test need.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

if [ "${AUTOPEFT_SKIP_APT:-0}" != 1 ] && command -v apt-get >/dev/null; then
    need=()
    dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || need+=(dataset-fashion-mnist)
    dpkg -s chromium >/dev/null 2>&1 || need+=(chromium)
    if [ ${#need[@]} -gt 0 ]; then
        SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
        ($SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}") >"$log" 2>&1 \
            || { echo "warning: could not install ${need[*]} (vision data / report browser test will be skipped)"; }
    fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    .venv/bin/pip install -q torch==2.13.0 >"$log" 2>&1 || { cat "$log"; exit 1; }
fi
# reinstall only when pyproject.toml changed since the last successful install
stamp=.venv/.autopeft-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/pip install -q -e ".[dev]" >"$log" 2>&1 || { grep -v "^WARNING: Location" "$log"; exit 1; }
    touch "$stamp"
fi
