#!/usr/bin/env bash
# Create (or update) the project's virtual environment at .venv in the repo root, and fetch
# the web page's HLS player (hls.js, checked against its sha512). What the demo and the
# service use; the test command adds the browser. Idempotent: a second run with an unchanged
# pyproject.toml installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $("$PYTHON" --version)"
    "$PYTHON" -m venv .venv
fi

# MTCNN, the face detector of --face-enhance (rayapp/faces.py), ships its weights inside
# facenet-pytorch, whose metadata pins a torch of 2023: installed without its dependencies
# (torch, torchvision, numpy, Pillow, requests and tqdm are ours).
FACES=facenet-pytorch==2.6.0
stamp=.venv/.rayapp-installed
want="$(cat pyproject.toml <(echo "$FACES") | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setup: installing rayapp and its test tools into .venv (first time: a few minutes)"
    # torch/torchvision are pinned in pyproject.toml to releases pip finds on this
    # machine's disk; an unpinned torch would download several GB.
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[test]"
    .venv/bin/python -m pip install --quiet --no-deps "$FACES"
    echo "$want" > "$stamp"
fi

"$PYTHON" scripts/fetch_hls.py
