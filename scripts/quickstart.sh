#!/usr/bin/env bash
# Quick start: set up, then run the video job on a generated sample clip with a local Ray
# (no cloud, no network) -> rayapp-demo.mp4. Arguments go to `python -m jobs.demo`
# (--output PATH, --seconds S).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m jobs.demo "$@"
