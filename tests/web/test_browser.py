"""The web page in a real headless Chromium, against a real saliency-server: what a person does
(upload, read the top classes, open every map, compare, attack, evaluate), each step checked
against what the Python client gets from the same server, and screenshotted."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from saliency_client import SaliencyClient, Unimplemented
from selenium.webdriver.support.ui import Select

from tests.web.page import Page

pytestmark = pytest.mark.integration
DEMO = Path(__file__).resolve().parents[2] / "client/src/saliency_client/web/static/demo"
HOSTILE_NAME = "<img src=x onerror=alert(1)>square.png"
DONE = "return document.querySelector('{}').dataset.done === '1'"
# Per gallery card: its status, reason, and how much of its canvas is in colour (the map's
# colours over a grey picture) — read from the pixels the browser drew.
CARDS = """
return [...document.querySelectorAll('#gallery .map-card')].map((card) => {
  const canvas = card.querySelector('canvas.map');
  let coloured = null;
  if (canvas) {
    const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let count = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 40) count++;
    }
    coloured = count / (d.length / 4);
  }
  return {method: card.dataset.method, status: card.dataset.status, coloured,
          rendered: canvas ? canvas.dataset.rendered === '1' : null,
          text: card.textContent};
});
"""


def _server_maps(target: str, image: bytes, target_class: int) -> dict[str, str | bool]:
    """Per method, straight from the server: "n/a: reason", or whether its map is non-zero."""
    with SaliencyClient(target) as client:
        methods = [m.name for m in client.list_methods() if m.kind == "explain"]

        def one(method: str) -> str | bool:
            try:
                (result,) = client.explain(image, model="shapes", method=method,
                                           targets=target_class)
            except Unimplemented as error:
                return f"n/a: {error.details}"
            found = result.explanations[0]
            picture = found.image if found.image is not None else found.heatmap
            return bool(np.ptp(picture) > 0)

        with ThreadPoolExecutor(4) as pool:
            return dict(zip(methods, pool.map(one, methods), strict=True))


def test_upload_top_classes_every_map_comparison_attack_and_evaluation(
    page: Page, grpc_target: str, tmp_path: Path
) -> None:
    data = (DEMO / "square.png").read_bytes()
    page.open()
    page.shot("page")

    # Upload, under a file name that would be markup if the page ever used it as HTML.
    upload = tmp_path / HOSTILE_NAME
    upload.write_bytes(data)
    page.find("#file").send_keys(str(upload))
    page.wait_js(DONE.format("#top-k"), "the top classes")
    assert page.text("#current-name").startswith(HOSTILE_NAME)
    assert page.driver.execute_script("return document.querySelectorAll('main img:not([src])')"
                                      ".length + document.querySelectorAll('#current-name *')"
                                      ".length") == 0
    with SaliencyClient(grpc_target) as client:
        (expected,) = client.predict(data, model="shapes", top_k=5)
    shown = [int(b.get_attribute("data-class")) for b in page.find_all("#top-k .class-button")]
    assert shown == [score.index for score in expected.top]
    page.shot("top-classes")

    # The top class opens the gallery: every method, one map each.
    page.click("#top-k .class-button")
    page.wait_js(DONE.format("#gallery"), "every method's map", timeout=240)
    page.wait_js("return [...document.querySelectorAll('#gallery canvas.map')]"
                 ".every((c) => c.dataset.rendered === '1')", "the maps to be drawn")
    truth = _server_maps(grpc_target, data, expected.top[0].index)
    cards = {card["method"]: card for card in page.driver.execute_script(CARDS)}
    assert sorted(cards) == sorted(truth)
    for method, answer in truth.items():
        card = cards[method]
        if isinstance(answer, str):
            assert card["status"] == "not_applicable", method
            assert answer.removeprefix("n/a: ") in card["text"]
        elif answer:
            assert card["status"] == "ok" and card["rendered"], method
            assert card["coloured"] > 0.005, f"{method}'s map is blank on the page"
        else:  # the server's map is zero everywhere: the page draws no colour and says so
            assert card["coloured"] == 0 and "zero everywhere" in card["text"], method
    assert sum(1 for a in truth.values() if a is True) >= 20
    page.shot("gallery")

    # A card's parameter drawer recomputes that method alone, and the permalink keeps it.
    card = "#gallery .map-card[data-method='grad_cam']"
    drawn = f"return document.querySelector(\"{card} canvas\").toDataURL()"
    before = page.driver.execute_script(drawn)
    page.click(f"{card} details.drawer summary")
    Select(page.find(f"{card} select[name='layer']")).select_by_value("features.15")
    page.click(f"{card} form button[type='submit']")
    page.wait_js(f"const c = document.querySelector(\"{card}\"); return c.dataset.status === "
                 "'ok' && c.querySelector('.params').textContent.includes('features.15') && "
                 "c.querySelector('canvas').dataset.rendered === '1'", "grad_cam at another layer")
    assert page.driver.execute_script(drawn) != before
    assert "p.grad_cam.layer=features.15" in page.driver.current_url

    page.tab("compare")
    page.click("#compare-run")
    page.wait_js(DONE.format("#compare"), "the comparison")
    rows = page.find_all("#compare .compare-row")
    assert len(rows) == 3 and all(len(r.find_elements("css selector", "canvas")) == 2 for r in rows)
    page.shot("compare")

    # PGD at 8/255 from the attack panel flips the label, as the client sees it too.
    page.tab("attack")
    page.driver.execute_script("const s = document.querySelector('#attack-eps'); s.value = 8;"
                               "s.dispatchEvent(new Event('input'))")
    assert page.text("#attack-eps-value").startswith("ε = 8/255")
    page.click("#attack-run")
    page.wait_js(DONE.format("#attack-result"), "the attack")
    with SaliencyClient(grpc_target) as client:
        (adversarial,) = client.attack(data, model="shapes", method="pgd", eps=8 / 255, steps=10)
    assert adversarial.success
    assert page.text("#attack-before").startswith(f"{adversarial.label_before} ·")
    assert page.text("#attack-after-onnx").startswith(f"{adversarial.label_after_onnx} ·")
    assert page.text("#attack-after-torch").startswith(f"{adversarial.label_after_torch} ·")
    assert page.text("#attack-success").startswith("yes")
    assert page.find("#attack-map-before").get_attribute("data-rendered") == "1"
    assert page.find("#attack-map-after").get_attribute("data-rendered") == "1"
    assert "client.attack(" in page.text("#attack-code")
    assert "saliency --target" in page.text("#attack-code")
    attack_link = page.driver.current_url
    page.shot("attack")

    # A small evaluation whose plot appears as the stream ends.
    page.tab("evaluate")
    page.click("#evaluate-attacks input[value='pgd']")  # fgsm alone
    eps = page.find("#evaluate-eps")
    eps.clear()
    eps.send_keys("0, 4/255, 8/255")
    page.click("#evaluate-run")
    page.wait_js(DONE.format("#evaluate-plot"), "the accuracy plot")
    assert page.driver.execute_script("return document.querySelector('#evaluate-progress')"
                                      ".value") == 1
    assert len(page.find_all("#evaluate-plot path.curve")) == 2  # torch and ONNX Runtime
    assert len(page.find_all("#evaluate-plot circle.point.torch")) == 3
    rows = [row.text for row in page.find_all("#evaluate-table tbody tr")]
    with SaliencyClient(grpc_target) as client:
        images = [(DEMO / f"{label}.png").read_bytes() for label in
                  ("circle", "cross", "ellipse", "square", "star", "triangle")]
        labels = [0, 4, 1, 2, 5, 3]
        report = client.evaluate(images, labels, model="shapes", attacks=["fgsm"],
                                 epsilons=[0, 4 / 255, 8 / 255])
    assert [row.split()[-2] for row in rows] == [
        f"{a * 100:.1f}" for a in report.curves[0].accuracy]
    page.shot("evaluate")

    # The attack's permalink brings the same view back and runs it again.
    page.driver.get(attack_link)
    page.wait_js(DONE.format("#attack-result"), "the attack from its permalink")
    assert page.text("#attack-after-onnx").startswith(f"{adversarial.label_after_onnx} ·")
    page.shot("attack-permalink")


def test_mistakes_and_server_errors_are_messages(page: Page, tmp_path: Path) -> None:
    # A permalink to an upload the web server no longer holds.
    page.expected_errors = ["/api/images/u-", "/api/explain"]
    page.open("?img=u-" + "0" * 20)
    page.wait_js("return !document.querySelector('#message').hidden", "a message")
    assert "upload it again" in page.text("#message")
    # A file that is not a picture: refused by the web server, in words.
    bad = tmp_path / "notes.png"
    bad.write_text("these are not pixels")
    page.expected_errors.append("/api/images")
    page.find("#file").send_keys(str(bad))
    page.wait_js("return document.querySelector('#message').textContent.includes('cannot read')",
                 "the refusal")
    assert page.text("#message").startswith("bad image: cannot read the file as a picture")
    # A bad parameter for one method: its card says what the server said; the rest compute.
    page.open("?img=demo-star&view=gallery&c=5&run=1&p.grad_cam.layer=no.such.layer")
    page.wait_js(DONE.format("#gallery"), "the gallery")
    card = page.find("#gallery .map-card[data-method='grad_cam']")
    assert card.get_attribute("data-status") == "error"
    assert "invalid argument" in card.text and "no.such.layer" in card.text
    assert page.find("#gallery .map-card[data-method='cam']").get_attribute("data-status") == "ok"
    page.shot("errors")
