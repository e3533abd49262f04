"""saliency-web's JSON API over a real server: what the page is told, errors as messages, limits,
and snippets that do what the view did."""

from __future__ import annotations

import base64
import json
import shlex
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from saliency_client import SaliencyClient, Unimplemented, cli

from tests.integration.certs import make_pki
from tests.integration.server_process import write_tiny_repository
from tests.serving import ServerThread
from tests.web.page import WebProcess

pytestmark = pytest.mark.integration
DEMO = Path(__file__).resolve().parents[2] / "client/src/saliency_client/web/static/demo"


def call(url: str, body: object = None, *, raw: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def lines(body: bytes) -> list[dict[str, object]]:
    return [json.loads(line) for line in body.decode().splitlines()]


def heatmap(entry: dict[str, object]) -> np.ndarray:
    array = entry["heatmap"]
    values = np.frombuffer(base64.b64decode(array["data"]), dtype="<f4")
    return values.reshape(array["shape"])


def test_the_page_is_served_with_a_strict_policy(web: WebProcess) -> None:
    status, headers, body = call(web.url)
    assert status == 200 and b'<script type="module" src="/static/js/main.js">' in body
    policy = {k.lower(): v for k, v in headers.items()}["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    status, _, body = call(web.url + "static/js/main.js")
    assert status == 200 and b"import" in body


def test_models_methods_and_errors_as_messages(web: WebProcess, grpc_target: str) -> None:
    status, _, body = call(web.url + "api/models?target=demo")
    answer = json.loads(body)
    with SaliencyClient(grpc_target) as client:
        expected = client.get_model("shapes")
        methods = [m.name for m in client.list_methods()]
    (model,) = answer["models"]
    assert status == 200 and model["labels"] == list(expected.labels)
    assert model["onnx_max_abs_logit_gap"] == pytest.approx(expected.onnx_max_abs_logit_gap)
    assert [m["name"] for m in answer["methods"]] == methods
    # Errors come back as a status and one short message, never a traceback.
    cases = [
        ("api/models?target=nowhere", None, 400, "unknown target"),
        ("api/predict", {"target": "demo", "model": "nope", "image": "demo-star"}, 404,
         "nope"),
        ("api/predict", {"target": "demo", "model": "shapes", "image": "u-" + "0" * 20}, 400,
         "upload it again"),
        ("api/predict", {"target": "demo", "model": "shapes", "image": "demo-star",
                         "top_k": 10_000}, 400, "'top_k' must be an integer in 1..20"),
        ("api/attack", {"target": "demo", "model": "shapes", "image": "demo-star",
                        "method": "pgd", "params": {"eps": 5.0}}, 400, "eps"),
        ("api/attack", {"target": "demo", "model": "shapes", "image": "demo-star",
                        "method": "pgd", "params": {"model": "x"}}, 400, "not a method param"),
    ]
    for path, body_sent, expected_status, words in cases:
        status, _, body = call(web.url + path, body_sent)
        message = json.loads(body)
        assert status == expected_status, (path, message)
        assert words in message["error"] and "Traceback" not in message["error"]
    status, _, body = call(web.url + "api/predict", raw=b"{not json")
    assert status == 400 and json.loads(body)["error"] == "the body is not JSON"


def test_uploads_are_limited_checked_and_their_names_kept_as_text(demo_server: ServerThread,
                                                                  web: WebProcess) -> None:
    name = '<img src=x onerror="alert(1)">.png'
    status, _, body = call(web.url + "api/images", raw=(DEMO / "star.png").read_bytes(),
                           headers={"x-file-name": urllib.parse.quote(name)})
    stored = json.loads(body)
    assert status == 200 and stored["name"] == name  # JSON text; the page shows it as text
    status, _, body = call(web.url + f"api/images/{stored['id']}")
    assert status == 200 and body.startswith(b"\x89PNG")
    status, _, body = call(web.url + "api/images", raw=b"GIF89a but not really")
    assert status == 400 and "cannot read" in json.loads(body)["error"]
    with WebProcess(f"demo={demo_server.target}", extra=("--max-upload-mib", "0.005")) as small:
        status, _, body = call(small.url + "api/images", raw=(DEMO / "star.png").read_bytes())
        assert status == 413 and "limit of 0.0 MiB" in json.loads(body)["error"]


def test_the_gallery_streams_every_method_as_the_client_computes_it(
    web: WebProcess, grpc_target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, _, body = call(web.url + "api/explain", {
        "target": "demo", "model": "shapes", "image": "demo-star", "methods": "all",
        "classes": [5], "params": {"integrated_gradients": {"steps": 16}},
    })
    assert status == 200
    head, *answers, done = lines(body)
    assert done["done"] is True
    by_method = {a["method"]: a for a in answers}
    data = (DEMO / "star.png").read_bytes()
    with SaliencyClient(grpc_target) as client:
        offered = [m.name for m in client.list_methods() if m.kind == "explain"]
        assert head["methods"] == offered and sorted(by_method) == sorted(offered)
        for method in ("grad_cam", "integrated_gradients", "attention"):
            entry = by_method[method]
            params = {"steps": 16} if method == "integrated_gradients" else {}
            if entry["status"] == "not_applicable":
                with pytest.raises(Unimplemented) as refused:
                    client.explain(data, model="shapes", method=method, targets=5)
                assert entry["reason"] == refused.value.details
                continue
            (expected,) = client.explain(data, model="shapes", method=method, targets=5,
                                         **params)
            (found,) = entry["explanations"]
            assert entry["status"] == "ok" and found["target"] == 5
            np.testing.assert_allclose(heatmap(found), expected.explanations[0].heatmap,
                                       rtol=1e-5, atol=1e-6)
    # The Python snippet of a card, run as it is shown, computes that card's map.
    shown = by_method["integrated_gradients"]["snippets"]["python"]
    (tmp_path / "star.png").write_bytes(data)
    scope: dict[str, object] = {}
    monkeypatch.chdir(tmp_path)
    exec(compile(shown, "snippet", "exec"), scope)
    np.testing.assert_allclose(scope["heatmap"], heatmap(
        by_method["integrated_gradients"]["explanations"][0]), rtol=1e-5, atol=1e-6)
    # And the CLI command shown for the gallery prints every method and draws the grid.
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert cli.main(shlex.split(head["snippets"]["cli"])[1:]) == 0
    printed = capsys.readouterr().out
    for method in offered:
        row = next(line for line in printed.splitlines() if line.split()[:1] == [method])
        applies = by_method[method]["status"] != "not_applicable"
        assert ("target_probability" if applies else "not applicable") in row, row
    with Image.open(tmp_path / "grid_class5.png") as grid:
        assert grid.width >= 6 * 256 and grid.height >= 3 * 256


def test_an_attack_answers_both_engines_and_the_exact_perturbation(web: WebProcess,
                                                                   grpc_target: str) -> None:
    status, _, body = call(web.url + "api/attack", {
        "target": "demo", "model": "shapes", "image": "demo-square", "method": "pgd",
        "params": {"eps": 8 / 255, "steps": 10}, "map_method": "grad_cam"})
    answer = json.loads(body)
    assert status == 200, answer
    with SaliencyClient(grpc_target) as client:
        (expected,) = client.attack((DEMO / "square.png").read_bytes(), model="shapes",
                                    method="pgd", eps=8 / 255, steps=10)
    assert answer["label_before"] == expected.label_before == 2  # a square
    assert answer["label_after_onnx"] == expected.label_after_onnx != 2
    assert answer["labels"]["label_after_onnx"] == "triangle" or answer["success"]
    assert answer["map_before"]["predicted"]["index"] == answer["label_before"]
    assert answer["map_after"]["predicted"]["index"] == answer["label_after_torch"]
    assert answer["linf"] <= 8 / 255 + 1e-6


def test_evaluate_streams_progress_then_the_report(web: WebProcess, grpc_target: str) -> None:
    status, _, body = call(web.url + "api/evaluate", {
        "target": "demo", "model": "shapes", "images": "demo", "attacks": ["fgsm"],
        "epsilons": [0.0, 8 / 255]})
    assert status == 200
    head, *rest = lines(body)
    progress = [line["progress"] for line in rest if "progress" in line]
    report = rest[-1]["report"]
    assert head["label_source"] == "true classes" and len(head["labels"]) == 6
    assert progress == sorted(progress) and progress[-1] == 1.0
    with SaliencyClient(grpc_target) as client:
        images = [(DEMO / name).read_bytes() for name in head["images"]]
        expected = client.evaluate(images, head["labels"], model="shapes", attacks=["fgsm"],
                                   epsilons=[0.0, 8 / 255])
    assert report["clean_accuracy"] == expected.clean_accuracy
    assert report["curves"][0]["accuracy"] == expected.curves[0].accuracy


def test_targets_behind_mutual_tls_and_a_token_are_called_without_the_page_seeing_either(
    demo_server: ServerThread, tmp_path: Path
) -> None:
    pki = make_pki(tmp_path / "pki")
    locked = ServerThread(write_tiny_repository(tmp_path / "repository"),
                          tls_cert=pki.server.cert, tls_key=pki.server.key,
                          tls_client_ca=pki.ca, auth_tokens="the-right-token")
    (tmp_path / "right").write_text("the-right-token\n")
    (tmp_path / "wrong").write_text("a-wrong-token\n")
    table = ('[[target]]\nname = "{name}"\naddress = "{address}"\ntls_ca = "{ca}"\n'
             'tls_cert = "{cert}"\ntls_key = "{key}"\ntoken_file = "{token}"\n')
    (tmp_path / "targets.toml").write_text("".join(
        table.format(name=name, address=locked.target, ca=pki.ca, cert=pki.client.cert,
                     key=pki.client.key, token=tmp_path / token)
        for name, token in (("locked", "right"), ("stranger", "wrong"))))
    try:
        with WebProcess(f"plain={demo_server.target}",
                        extra=("--targets-file", str(tmp_path / "targets.toml"))) as web:
            status, _, body = call(web.url + "api/config")
            assert status == 200 and b"the-right-token" not in body
            described = {t["name"]: t for t in json.loads(body)["targets"]}
            assert described["locked"]["tls"] and described["locked"]["token"]
            assert not described["plain"]["tls"] and not described["plain"]["token"]
            status, _, body = call(web.url + "api/models?target=locked")
            assert status == 200 and json.loads(body)["models"][0]["name"] == "shapes"
            status, _, body = call(web.url + "api/predict", {
                "target": "locked", "model": "shapes", "image": "demo-star", "top_k": 2})
            assert status == 200 and len(json.loads(body)["top"]) == 2
            assert 'os.environ["SALIENCY_TOKEN"]' in json.loads(body)["snippets"]["python"]
            status, _, body = call(web.url + "api/models?target=stranger")
            refusal = json.loads(body)
            assert status == 502 and refusal["code"] == "UNAUTHENTICATED"
    finally:
        locked.stop()
