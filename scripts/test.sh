#!/usr/bin/env bash
# Install everything the tests need into .venv, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet ./client '.[test]'
# tests/integration/test_metrics_scrape.py scrapes the service with a real Prometheus server:
# Debian's package, installed here when missing (the test fails, not skips, without it).
if ! command -v prometheus >/dev/null; then
    sudo=$([ "$(id -u)" -eq 0 ] || echo sudo)
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
fi
# Quantus (the assessment metrics' oracle) pulls in OpenCV's GUI build, which needs libGL and
# glib at import time; a bare machine has neither.
if ! .venv/bin/python -c "import cv2" 2>/dev/null; then
    sudo=$([ "$(id -u)" -eq 0 ] || echo sudo)
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libgl1 libglib2.0-0 >/dev/null
fi
.venv/bin/python -m pytest "$@"
