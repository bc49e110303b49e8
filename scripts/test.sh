#!/usr/bin/env bash
# Set up, then run the whole test suite (unit, Ray and end-to-end tiers). Extra arguments
# go to pytest. Two pytest workers (pytest-xdist), each taking a whole test file at a time,
# so a file's Ray, S3 and Serve fixtures stay in one process: on a 2-core machine the suite
# takes 11 min instead of 18. RAYAPP_TEST_WORKERS=0 runs it in one process (for -s, pdb).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m pytest -n "${RAYAPP_TEST_WORKERS:-2}" --dist loadfile "$@"
