#!/usr/bin/env bash
# Set up, lint (ruff check and ruff format --check: either failing fails the command), then
# run the whole test suite (unit, Ray and end-to-end tiers). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"
