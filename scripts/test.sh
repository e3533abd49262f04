#!/usr/bin/env bash
# Install everything the tests need into .venv, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet './client[web,figures]' '.[test]'
# Debian packages the tests drive, installed here when missing (their tests fail, not skip,
# without them): tests/integration/test_metrics_scrape.py scrapes the service with a real
# Prometheus server; tests/web/ drives the web page in a real headless Chromium; Quantus (the
# assessment metrics' oracle) pulls in OpenCV's GUI build, which needs libGL and glib at import
# time.
missing=()
command -v prometheus >/dev/null || missing+=(prometheus)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
.venv/bin/python -c "import cv2" 2>/dev/null || missing+=(libgl1 libglib2.0-0)
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=$([ "$(id -u)" -eq 0 ] || echo sudo)
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
.venv/bin/python -m pytest "$@"
