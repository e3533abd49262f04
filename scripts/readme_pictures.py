"""Regenerate the README's pictures: screenshots of saliency-web and a `saliency explain --grid`
figure, all over the demo server.

    .venv/bin/python scripts/readme_pictures.py            # writes docs/pictures/*.png

Needs what `bash scripts/test.sh` installs (the web and figures extras, Selenium, Debian's
chromium and chromium-driver).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.web.page, the browser driver the tests use

from saliency_client import cli  # noqa: E402
from saliency_service.demo.run import start_server  # noqa: E402

from tests.web.page import Page, WebProcess, start_browser  # noqa: E402

OUT = ROOT / "docs" / "pictures"
DEMO = ROOT / "client/src/saliency_client/web/static/demo"
DONE = "return document.querySelector('{}').dataset.done === '1'"


def _shrink(path: Path) -> None:
    with Image.open(path) as picture:
        opaque = picture.convert("RGB")  # no alpha channel: a quarter smaller
    opaque.save(path, optimize=True)


def _screenshots(url: str) -> list[Path]:
    driver = start_browser(1600, 1150)
    page = Page(driver, url)
    shots = []

    def shot(name: str) -> None:
        path = OUT / f"web-{name}.png"
        driver.save_screenshot(str(path))
        shots.append(path)

    try:
        page.open("?img=demo-star&view=gallery&c=5&run=1")
        page.wait_js(DONE.format("#gallery"), "the gallery", timeout=300)
        page.wait_js("return [...document.querySelectorAll('#gallery canvas.map')]"
                     ".every((c) => c.dataset.rendered === '1')", "the maps")
        shot("gallery")
        page.open("?img=demo-square&view=attack&am=pgd&eps=0.03137254901960784&steps=10"
                  "&amap=grad_cam&run=1")
        page.wait_js(DONE.format("#attack-result"), "the attack")
        shot("attack")
        page.open("?img=demo-square&view=evaluate&ea=fgsm,pgd&ee=0,1/255,2/255,4/255,8/255"
                  "&es=10&eimg=demo&run=1")
        page.wait_js(DONE.format("#evaluate-plot"), "the evaluation", timeout=300)
        shot("evaluate")
    finally:
        driver.quit()
    return shots


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    server, target = start_server()
    try:
        with WebProcess(f"demo={target}") as web:
            written = _screenshots(web.url)
        grid = OUT / "grid.png"
        status = cli.main(["--target", target, "explain", str(DEMO / "star.png"),
                           "--methods", "all", "--grid", str(grid)])
        if status != 0:
            raise SystemExit(f"saliency explain --grid failed ({status})")
        written.append(grid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    for path in written:
        _shrink(path)
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
