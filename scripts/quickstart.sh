#!/usr/bin/env bash
# Quick start: set up, then run the main job on the bundled sample (no cloud, no network).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/rayapp demo --output "${1:-rayapp-demo.png}"
