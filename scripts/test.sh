#!/usr/bin/env bash
# Set up, lint (ruff check and ruff format --check: either failing fails the command), then
# run the whole test suite (unit, Ray and end-to-end tiers). Extra arguments go to pytest.
#
# scripts/test.sh --quick: lint, then the tests that need no Ray, Serve or browser
# (tests/unit, a few minutes); a test there that starts a Ray fails (RAYAPP_TEST_TIER=quick:
# tests/conftest.py points every Ray start at an address that does not exist).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--quick" ]; then
    shift
    scripts/setup.sh
    .venv/bin/ruff check .
    .venv/bin/ruff format --check .
    RAYAPP_TEST_TIER=quick exec .venv/bin/python -m pytest tests/unit "$@"
fi
scripts/setup.sh
# The browser test drives Debian's chromium through Playwright (never Playwright's own
# download): install it when it is missing and we may.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test: installing chromium for the browser test"
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"
