#!/usr/bin/env bash
# Install the server and client into .venv, then run the demo: the server on the built-in demo
# repository and client requests that draw one figure per image (every method's map) in demo-out/.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet './client[figures]' .
.venv/bin/saliency-demo --out demo-out
