"""Model folders in every supported format load, agree with ONNX Runtime, and bad ones say why."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import safetensors.torch
import torch
import torchvision
from saliency_service import cli
from saliency_service.errors import UnknownModel
from saliency_service.models.config import ModelConfigError, read_model_config
from saliency_service.models.loading import load_model
from saliency_service.models.repository import ModelRepository

from tests import random_models
from tests.hostile_models import write_torchscript_model

SIZE = 64
CONFIG = """
{source}
num_classes = 4
cam_layer = "layer4"
[input]
height = 64
width = 64
mean = [0.485, 0.456, 0.406]
std = [0.229, 0.224, 0.225]
"""


def network() -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=4).eval()


def write_model(folder: Path, fmt: str) -> Path:
    folder.mkdir(parents=True)
    net = network()
    example = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    if fmt == "safetensors":
        safetensors.torch.save_file(net.state_dict(), str(folder / "w.safetensors"))
        source = 'architecture = "torchvision:resnet18"\nweights = "w.safetensors"'
    elif fmt == "state_dict":
        torch.save(net.state_dict(), folder / "w.pt")
        source = 'architecture = "torchvision:resnet18"\nweights = "w.pt"'
    elif fmt == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.trace is deprecated, but users have files
            torch.jit.trace(net, example).save(str(folder / "m.ts"))
        source = 'torchscript = "m.ts"'
    else:
        batch = torch.export.Dim("batch", min=1, max=1024)
        program = torch.export.export(net, (example,), dynamic_shapes=({0: batch},))
        torch.export.save(program, str(folder / "m.pt2"))
        source = 'exported_program = "m.pt2"'
    (folder / "model.toml").write_text(CONFIG.format(source=source))
    return folder


@pytest.mark.parametrize("fmt", ["safetensors", "state_dict", "torchscript", "exported_program"])
def test_every_format_loads_and_matches_the_original(tmp_path: Path, fmt: str) -> None:
    config = read_model_config(write_model(tmp_path / fmt, fmt))
    model = load_model(config, torch.device("cpu"), trust_torchscript=fmt == "torchscript")
    images = torch.rand(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    expected = network()((images - model.classifier.mean) / model.classifier.std)
    with torch.no_grad():
        assert torch.allclose(model.classifier(images), expected, atol=1e-4)
    assert model.onnx_max_rel_gap < 1e-4
    got = model.onnx.logits(images.numpy())
    assert torch.allclose(torch.from_numpy(got), expected, atol=1e-3)
    if fmt == "torchscript":
        # Hooks never fire inside TorchScript graphs, so no layer is offered for CAM.
        assert model.layers == () and model.default_layer is None
    else:
        assert model.default_layer == "layer4" and "layer4" in model.layers
    assert not any(p.requires_grad for p in model.classifier.parameters())


def test_torchscript_is_refused_unless_trusted_as_it_runs_code_when_loaded(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    config = read_model_config(write_torchscript_model(tmp_path, "scripted", marker))
    with pytest.raises(ModelConfigError, match="--trust-torchscript"):
        load_model(config, torch.device("cpu"))
    assert not marker.exists()
    # The oracle: trusted, the same file does run its code while loading.
    load_model(config, torch.device("cpu"), trust_torchscript=True)
    assert marker.exists()


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    folder = write_model(tmp_path / "m", "state_dict")
    torch.save({"weights": network().state_dict(), "obj": Path("x")}, folder / "w.pt")
    with pytest.raises(ModelConfigError, match="arbitrary pickles"):
        load_model(read_model_config(folder), torch.device("cpu"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('architecture = "torchvision:resnet18"\n[input]\nheight = 32\nwidth = 32', "weights"),
        ('torchscript = "../../etc/passwd"\nnum_classes = 2\n[input]\nheight = 1\nwidth = 1',
         "not a file inside"),
        ('torchscript = "a"\nexported_program = "b"', "exactly one"),
        ('architecture = "x"\nweights = "w.pt"\nnum_classes = 4\n[input]\nwidth = 3', "height"),
        ('architecture = "x"\nweights = "w.pt"\nlabels = ["a"]\nnum_classes = 2\n'
         '[input]\nheight = 3\nwidth = 3', "1 labels for 2 classes"),
        ("not toml at all = = =", "model.toml"),
    ],
    ids=["no-weights", "path-escape", "two-sources", "no-height", "labels-mismatch", "bad-toml"],
)
def test_config_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "w.pt").write_bytes(b"")
    (tmp_path / "model.toml").write_text(text)
    with pytest.raises(ModelConfigError, match=message):
        read_model_config(tmp_path)


def test_unknown_architecture_lists_the_known_ones(tmp_path: Path) -> None:
    folder = write_model(tmp_path / "m", "safetensors")
    text = (folder / "model.toml").read_text().replace("torchvision:resnet18", "torchvision:nope")
    (folder / "model.toml").write_text(text)
    with pytest.raises(ModelConfigError, match="resnet18"):
        load_model(read_model_config(folder), torch.device("cpu"))


def test_repository_names_and_unknown_model(tmp_path: Path) -> None:
    write_model(tmp_path / "alpha", "safetensors")
    (tmp_path / "not-a-model").mkdir()
    repository = ModelRepository.load(tmp_path, torch.device("cpu"))
    assert repository.names() == ["alpha"]
    with pytest.raises(UnknownModel, match="available: alpha"):
        repository.get("beta")


def test_a_repository_where_no_model_loads_exits_2_with_every_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    random_models.write_model(tmp_path, "corrupt")
    (tmp_path / "corrupt" / "weights.safetensors").write_bytes(b"\x00" * 64)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "model.toml").write_text("")
    flags = ["--repository", str(tmp_path), "--host", "127.0.0.1", "--port", "0"]
    assert cli.main([*flags, "--metrics-port", "0"]) == 2
    printed = capsys.readouterr().err
    assert "no model is ready" in printed and "Traceback" not in printed
    assert "corrupt: weights.safetensors is not a valid safetensors file" in printed
    assert "empty: empty/model.toml: set exactly one of" in printed
