"""saliency-web's parts without a server: the snippets a view shows, targets, the image store."""

from __future__ import annotations

import ast
import io
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from saliency_client import cli
from saliency_client.web import snippets
from saliency_client.web.store import MAX_SIDE, ImageError, ImageStore, clean_name
from saliency_client.web.targets import (
    Target,
    TargetError,
    parse_target,
    read_targets_file,
    unique,
)

HOSTILE = "it's \"$(rm -rf ~)\"; <b>x</b>.png"
PLAIN = Target("local", "127.0.0.1:50051")
SECURE = Target("fleet", "dns:///saliency.ml.svc:50051", tls_ca=Path("/etc/ca.pem"),
                token="secret-token")


def png(pixels: np.ndarray, kind: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=kind)
    return out.getvalue()


def cli_args(command: str) -> object:
    """Parse a snippet's `saliency` line with the real CLI parser."""
    words = shlex.split(command.splitlines()[-1])
    assert words[0] == "saliency"
    return cli._parser().parse_args(words[1:])


def python_literals(code: str) -> list[object]:
    """Every constant in a snippet, which must be valid Python."""
    return [node.value for node in ast.walk(ast.parse(code)) if isinstance(node, ast.Constant)]


def test_an_explain_snippet_is_the_call_and_the_command_that_do_it() -> None:
    context = snippets.Context(PLAIN, "shapes", HOSTILE)
    shown = snippets.explain(context, "integrated_gradients", [2],
                             {"steps": 64, "baseline": "blurred", "noise": 8 / 255})
    args = cli_args(shown["cli"])
    assert (args.target, args.model, args.image, args.method) == (
        "127.0.0.1:50051", "shapes", HOSTILE, "integrated_gradients")
    assert args.target_class == 2
    assert dict(args.param) == {"steps": 64, "baseline": "blurred", "noise": pytest.approx(8 / 255)}
    code = shown["python"]
    assert HOSTILE in python_literals(code)
    call = next(n for n in ast.walk(ast.parse(code))
                if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "explain")
    keywords = {k.arg: k.value for k in call.keywords}
    assert ast.literal_eval(keywords["targets"]) == 2
    assert ast.literal_eval(keywords["steps"]) == 64
    assert eval(compile(ast.Expression(keywords["noise"]), "", "eval")) == pytest.approx(8 / 255)


def test_two_classes_of_one_image_are_one_call_and_two_commands() -> None:
    shown = snippets.explain(snippets.Context(PLAIN, "shapes", "a.png"), "grad_cam", [2, 4], {})
    assert "targets=[[2, 4]]" in shown["python"]
    assert [cli_args(line).target_class for line in shown["cli"].splitlines()] == [2, 4]


def test_a_gallery_snippet_names_every_method_and_prefixes_parameters() -> None:
    shown = snippets.gallery(snippets.Context(PLAIN, "shapes", "a.png"), ["grad_cam", "cam"],
                             True, [3], {"grad_cam": {"layer": "features.3"}})
    args = cli_args(shown["cli"])
    assert (args.methods, args.grid, args.target_class) == ("all", "grid_class3.png", 3)
    assert args.param == [("grad_cam.layer", "features.3")]
    assert ["grad_cam", "cam"] in [ast.literal_eval(n) for n in ast.walk(ast.parse(shown["python"]))
                                   if isinstance(n, ast.List)]


def test_tls_and_token_appear_as_options_and_an_environment_variable_never_the_token() -> None:
    context = snippets.Context(SECURE, "shapes", "a.png")
    for shown in (snippets.predict(context, 3), snippets.attack(context, "pgd", {"eps": 4 / 255}),
                  snippets.evaluate(context, ["a.png"], [1], {"fgsm": {}}, [0.0, 8 / 255], [])):
        assert "secret-token" not in shown["python"] + shown["cli"]
        assert 'os.environ["SALIENCY_TOKEN"]' in shown["python"]
        assert "tls_credentials(ca_file='ca.pem')" in shown["python"]
        args = cli_args(shown["cli"])
        assert args.tls_ca == Path("ca.pem") and args.target == SECURE.address
        ast.parse(shown["python"])


def test_attack_and_evaluate_commands_carry_every_choice() -> None:
    context = snippets.Context(PLAIN, "shapes", "a.png")
    shown = snippets.attack(context, "pgd", {"eps": 8 / 255, "steps": 5, "seed": 3})
    attack = cli_args(shown["cli"])
    assert (attack.method, attack.steps, attack.param) == ("pgd", 5, [("seed", 3)])
    assert attack.eps == pytest.approx(8 / 255)
    shown = snippets.evaluate(context, ["a.png", "b c.png"], [1, 2],
                              {"fgsm": {}, "pgd": {"steps": 5}}, [0.0, 2 / 255], ["grad_cam"])
    evaluate = cli_args(shown["cli"])
    assert evaluate.images == ["a.png", "b c.png"] and evaluate.labels == [1, 2]
    assert evaluate.attack == ["fgsm", "pgd"] and evaluate.param == [("pgd.steps", 5)]
    assert evaluate.eps == pytest.approx([0.0, 2 / 255]) and evaluate.stability == ["grad_cam"]
    assert evaluate.plot == "accuracy.png"
    ast.parse(shown["python"])


def test_targets_parse_from_the_command_line_and_a_file(tmp_path: Path) -> None:
    assert parse_target("127.0.0.1:1") == Target("default", "127.0.0.1:1")
    assert parse_target("a=dns:///x:1").name == "a"
    for bad in ("=x:1", "bad name=x:1", "a="):
        with pytest.raises(TargetError):
            parse_target(bad)
    with pytest.raises(TargetError, match="two targets"):
        unique([PLAIN, PLAIN])
    (tmp_path / "t.toml").write_text(
        '[[target]]\nname = "fleet"\naddress = "x:1"\ntls_ca = "ca.pem"\ntoken_file = "tok"\n')
    (fleet,) = read_targets_file(tmp_path / "t.toml")
    assert fleet.tls_ca == tmp_path / "ca.pem" and fleet.token_file == tmp_path / "tok"
    assert fleet.describe() == {"name": "fleet", "address": "x:1", "tls": True, "token": True}
    (tmp_path / "bad.toml").write_text('[[target]]\nname = "a"\naddress = "x:1"\npassword = 1\n')
    with pytest.raises(TargetError, match="unknown keys"):
        read_targets_file(tmp_path / "bad.toml")
    with pytest.raises(TargetError, match="target 'fleet'"):
        fleet.connect(5.0)  # the CA file does not exist: a message, not a traceback


def test_the_store_keeps_pictures_small_and_refuses_what_is_not_one() -> None:
    store = ImageStore(max_bytes=3 * 512 * 512 * 4)
    assert {image.label for image in store.demo} == {
        "circle", "ellipse", "square", "triangle", "cross", "star"}
    big = np.random.default_rng(0).integers(0, 256, (600, 900, 3), dtype=np.uint8)
    image = store.add(png(big, "JPEG"), "../../etc/photo.jpg")
    assert image.pixels.shape == (MAX_SIDE * 600 // 900, MAX_SIDE, 3)
    assert image.name == "photo.jpg"
    assert store.get(image.id) is image
    with pytest.raises(ImageError, match="cannot read"):
        store.add(b"<svg onload=alert(1)>", "x.svg")
    with pytest.raises(ImageError, match="malformed"):
        store.get("../demo-circle")
    # A bomb is refused from its header, before decoding: a 20000 x 20000 picture, tiny file.
    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, format="PNG")
    assert len(bomb.getvalue()) < 100_000
    with pytest.raises(ImageError, match="limit"):
        store.add(bomb.getvalue(), "bomb.png")
    # Uploads past the memory bound drop the oldest first; demo pictures stay.
    ids = [store.add(png(np.full((512, 512, 3), v, np.uint8)), f"{v}.png").id for v in range(4)]
    with pytest.raises(ImageError, match="no longer held"):
        store.get(ids[0])
    assert store.get(ids[-1]).name == "3.png"
    assert store.get("demo-circle").label == "circle"


def test_resizing_to_the_model_input_is_bilinear_in_zero_one() -> None:
    store = ImageStore()
    image = store.add(png(np.full((40, 40, 3), 255, np.uint8)), "white.png")
    resized = image.resized(64, 32, 3)
    assert resized.shape == (64, 32, 3) and resized.dtype == np.float32
    np.testing.assert_allclose(resized, 1.0)
    assert image.resized(8, 8, 1).shape == (8, 8, 1)


def test_names_lose_paths_and_control_characters() -> None:
    assert clean_name("C:\\Users\\me\\cat.png") == "cat.png"
    assert clean_name("a\x00b\u202ec.png") == "abc.png"
    assert clean_name("") == "image.png"
    assert len(clean_name("x" * 1000)) == 120
