#!/usr/bin/env bash
# Set up, lint (ruff check and ruff format --check: either failing fails the command), then
# run the whole test suite (unit, Ray and end-to-end tiers). Extra arguments go to pytest.
#
# The suite runs in two passes: the tests side by side on RAYAPP_TEST_WORKERS pytest-xdist
# workers (default 2; each takes a whole module at a time, so a module's shared Ray or Serve
# starts once), then the tests marked `alone` with nothing beside them. RAYAPP_TEST_WORKERS=0
# runs the first pass in one process.
#
# scripts/test.sh --quick: lint, then the tests that need no Ray, Serve or browser
# (tests/unit, a few minutes); a test there that starts a Ray fails (RAYAPP_TEST_TIER=quick:
# tests/conftest.py points every Ray start at an address that does not exist).
set -euo pipefail
cd "$(dirname "$0")/.."
workers="${RAYAPP_TEST_WORKERS:-2}"
# Modules in the order collected (the slow tiers first), not xdist's largest-module-first.
xdist=(-n "$workers" --dist loadfile --no-loadscope-reorder)

# Both passes over the given pytest arguments. pytest exits 5 when it selects no test: fine
# for one pass (arguments that pick only the other's tests), not for both.
two_passes() {
    local beside=0 alone=0 rc
    RAYAPP_TEST_PASS=beside .venv/bin/python -m pytest "${xdist[@]}" "$@" || beside=$?
    RAYAPP_TEST_PASS=alone .venv/bin/python -m pytest "$@" || alone=$?
    if [ "$beside" = 5 ] && [ "$alone" = 5 ]; then return 5; fi
    for rc in "$beside" "$alone"; do
        if [ "$rc" != 0 ] && [ "$rc" != 5 ]; then return "$rc"; fi
    done
}

if [ "${1:-}" = "--quick" ]; then
    shift
    scripts/setup.sh
    .venv/bin/ruff check .
    .venv/bin/ruff format --check .
    RAYAPP_TEST_TIER=quick two_passes tests/unit "$@"
    exit
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
two_passes "$@"
