"""What each view did, written as the Python client call and the `saliency` command that do it.

Every text that came from a person (file names, parameter text) is quoted: `repr` for Python,
`shlex.quote` for the shell. Tokens are never written out: the snippets read SALIENCY_TOKEN.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from saliency_client.web.targets import Target

Params = Mapping[str, object]


@dataclass(frozen=True)
class Context:
    """Where a view's call went: the server, the model, and the image's file name."""

    target: Target
    model: str
    file: str


def _number(value: int | float, *, shell: bool) -> str:
    """8/255 for a multiple of 1/255 in (0, 1), as people write ε; else the plain number."""
    steps = value * 255
    if isinstance(value, float) and 0 < value < 1 and abs(steps - round(steps)) < 1e-9:
        return f"{round(steps)}/255" if shell else f"{round(steps)} / 255"
    return repr(value)


def _py(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return repr(value)
    return _number(value, shell=False)


def _sh(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(value, shell=True)
    return str(value)


def _kwargs(params: Params) -> str:
    plain = {k: v for k, v in params.items() if k.isidentifier()}
    odd = {k: v for k, v in params.items() if not k.isidentifier()}
    parts = [f"{name}={_py(value)}" for name, value in plain.items()]
    if odd:
        parts.append("**{" + ", ".join(f"{k!r}: {_py(v)}" for k, v in odd.items()) + "}")
    return "".join(", " + part for part in parts)


def _open_client(target: Target, client: str = "SaliencyClient") -> tuple[list[str], str]:
    """The imports and the `with` line that open a client of `target`."""
    names = [client]
    arguments = [repr(target.address)]
    imports = ["from pathlib import Path"]
    if target.tls:
        names.append("tls_credentials")
        files = {"ca_file": target.tls_ca, "cert_file": target.tls_cert,
                 "key_file": target.tls_key}
        given = ", ".join(f"{k}={p.name!r}" for k, p in files.items() if p is not None)
        arguments.append(f"credentials=tls_credentials({given})")
    if target.describe()["token"]:
        imports.insert(0, "import os")
        arguments.append('token=os.environ["SALIENCY_TOKEN"]')
    imports.append(f"from saliency_client import {', '.join(names)}")
    opener = "async with" if client.startswith("Async") else "with"
    return imports, f"{opener} {client}({', '.join(arguments)}) as client:"


def _cli(context: Context, *words: str) -> str:
    target = context.target
    command = ["saliency", "--target", target.address]
    for option, path in (("--tls-ca", target.tls_ca), ("--tls-cert", target.tls_cert),
                         ("--tls-key", target.tls_key)):
        if path is not None:
            command += [option, path.name]
    command += ["--model", context.model, *words]
    line = shlex.join(command)
    if target.describe()["token"]:
        return "export SALIENCY_TOKEN=...   # the server's bearer token\n" + line
    return line


def _params_options(params: Mapping[str, Params], prefixed: bool) -> list[str]:
    words = []
    for method, given in params.items():
        for name, value in given.items():
            words += ["--param", f"{method}.{name}={_sh(value)}" if prefixed
                      else f"{name}={_sh(value)}"]
    return words


def _snippet(python: list[str], cli: str) -> dict[str, str]:
    return {"python": "\n".join(python), "cli": cli}


def predict(context: Context, top_k: int) -> dict[str, str]:
    """`predict` of one image."""
    imports, opener = _open_client(context.target)
    return _snippet([
        *imports, "",
        f"image = Path({context.file!r}).read_bytes()",
        opener,
        f"    (prediction,) = client.predict(image, model={context.model!r}, top_k={top_k})",
        "for score in prediction.top:",
        "    print(score.index, score.label, f'{score.probability:.1%}')",
    ], _cli(context, "predict", context.file, "--top-k", str(top_k)))


def _classes_py(classes: Sequence[int]) -> str:
    if not classes:
        return ""
    return f", targets={classes[0]}" if len(classes) == 1 else f", targets=[{list(classes)}]"


def explain(context: Context, method: str, classes: Sequence[int], params: Params) -> dict[
    str, str
]:
    """One method's `explain` (one class, or several of one image)."""
    imports, opener = _open_client(context.target)
    call = (f"client.explain(image, model={context.model!r}, method={method!r}"
            f"{_classes_py(classes)}{_kwargs(params)})")
    classes_words = [w for c in classes[:1] for w in ("--target-class", str(c))]
    cli = _cli(context, "explain", context.file, "--method", method, *classes_words,
               *_params_options({method: params}, prefixed=False), "-o", f"{method}.png")
    if len(classes) > 1:
        cli = "\n".join(
            _cli(context, "explain", context.file, "--method", method, "--target-class",
                 str(c), *_params_options({method: params}, prefixed=False), "-o",
                 f"{method}_class{c}.png") for c in classes)
    return _snippet([
        *imports, "",
        f"image = Path({context.file!r}).read_bytes()",
        opener,
        f"    (result,) = {call}",
        "for explanation in result.explanations:",
        "    print(explanation.target, explanation.label, explanation.diagnostics)",
        "    heatmap = explanation.heatmap  # raw float32 (H, W)",
    ], cli)


def gallery(context: Context, methods: Sequence[str], every: bool, classes: Sequence[int],
            params: Mapping[str, Params]) -> dict[str, str]:
    """Every method at once: the asyncio client with `gallery.explain_methods`, and one grid."""
    imports, opener = _open_client(context.target, "AsyncSaliencyClient")
    chosen = {m: dict(p) for m, p in params.items() if p}
    targets = (f"targets={classes[0]}, " if len(classes) == 1
               else f"targets={list(classes)}, " if classes else "")
    python = [
        "import asyncio", *imports, "from saliency_client.gallery import explain_methods", "",
        "async def main():",
        f"    image = Path({context.file!r}).read_bytes()",
        f"    {opener}",
        f"        async for answer in explain_methods(client, image, model={context.model!r},",
        f"                                            methods={list(methods)!r},",
        f"                                            {targets}params={_py(chosen)}):",
        "            print(answer.method, f'{answer.seconds:.2f} s',",
        "                  answer.not_applicable or answer.error or 'ok')", "",
        "asyncio.run(main())",
    ]
    method_words = ["--methods", "all" if every else ",".join(methods)]
    lines = [
        _cli(context, "explain", context.file, *method_words, "--target-class", str(c),
             *_params_options(chosen, prefixed=True), "--grid", f"grid_class{c}.png")
        for c in classes
    ] or [_cli(context, "explain", context.file, *method_words,
               *_params_options(chosen, prefixed=True), "--grid", "grid.png")]
    return _snippet(python, "\n".join(lines))


def attack(context: Context, method: str, params: Params) -> dict[str, str]:
    """One `attack`."""
    imports, opener = _open_client(context.target)
    words = ["attack", context.file, "--method", method]
    rest = dict(params)
    for option in ("eps", "steps"):
        if option in rest:
            words += [f"--{option}", _sh(rest.pop(option))]
    words += _params_options({method: rest}, prefixed=False) + ["-o", "adversarial.png"]
    return _snippet([
        *imports, "",
        f"image = Path({context.file!r}).read_bytes()",
        opener,
        f"    (adv,) = client.attack(image, model={context.model!r}, method={method!r}"
        f"{_kwargs(params)})",
        "print(adv.label_before, adv.label_after_torch, adv.label_after_onnx, adv.success)",
    ], _cli(context, *words))


def evaluate(context: Context, files: Sequence[str], labels: Sequence[int],
             attacks: Mapping[str, Params], epsilons: Sequence[float],
             stability: Sequence[str]) -> dict[str, str]:
    """One `evaluate` over labelled files."""
    imports, opener = _open_client(context.target)
    attack_py = "{" + ", ".join(f"{name!r}: {_py(dict(p))}" for name, p in attacks.items()) + "}"
    eps_py = "[" + ", ".join(_py(e) for e in epsilons) + "]"
    words = ["evaluate", *files, "--labels", ",".join(map(str, labels))]
    for name in attacks:
        words += ["--attack", name]
    words += _params_options(attacks, prefixed=True)
    words += ["--eps", ",".join(_sh(e) for e in epsilons)]
    for name in stability:
        words += ["--stability", name]
    return _snippet([
        *imports, "",
        f"images = [Path(name).read_bytes() for name in {list(files)!r}]",
        opener,
        f"    report = client.evaluate(images, {list(labels)!r}, model={context.model!r},",
        f"                             attacks={attack_py},",
        f"                             epsilons={eps_py},",
        f"                             stability_methods={list(stability)!r},",
        "                             progress=lambda done, stage: print(f'{done:4.0%} {stage}'))",
        "print('clean accuracy', report.clean_accuracy)",
        "for curve in report.curves:",
        "    print(curve.attack, curve.epsilons, curve.accuracy, curve.onnx_accuracy)",
    ], _cli(context, *words, "--plot", "accuracy.png"))
