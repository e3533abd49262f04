#!/usr/bin/env bash
# Install the server and client into .venv, then run the demo: the server on the built-in demo
# repository and a client request that writes heatmap PNGs to demo-out/.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet ./client .
.venv/bin/saliency-demo --out demo-out
