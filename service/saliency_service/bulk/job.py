"""A bulk job: what to compute over which data set, where to write it, and how to run it.

The job's *definition* (kind, model, method, parameters, what is written) is recorded in the
output folder on the first run; a rerun into the same folder must ask for the same thing, so
that the shards written by both runs mean the same.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from saliency_service.config import DEMO_REPOSITORY
from saliency_service.errors import InvalidLayer, InvalidRequest, SaliencyError, quoted
from saliency_service.models.config import CONFIG_FILE, ModelConfig, read_model_config
from saliency_service.models.layers import cam_layers
from saliency_service.models.loading import load_network
from saliency_service.operations.attack import attacker, resolve_attack
from saliency_service.operations.explain import explainer, resolve_explain
from saliency_service.params import ParamValue, resolve_params

Kind = Literal["explain", "attack", "evaluate"]
KINDS: tuple[Kind, ...] = ("explain", "attack", "evaluate")
Params = dict[str, ParamValue]


class BulkError(ValueError):
    """The job cannot run as given (bad method, parameters, input or output folder)."""


@dataclass(frozen=True)
class BulkJob:
    """One bulk job.

    Args:
        kind: "explain", "attack" or "evaluate".
        source: a folder tree of images (a sub-folder named after a class labels its images),
            a Parquet file or folder of them, or WebDataset `.tar` shards (a file or folder).
        output: the folder results go to; a rerun skips the shards already written there.
        model: the model's name in `repository` (default: its first model).
        method: the explanation method or attack (explain, attack).
        params: the method's parameters, as the server takes them.
        target: explain the "predicted" class, or the data set's "label".
        maps: per image, the map as an "array" column, a "png" file (min-max scaled, for
            viewing), or "none".
        overlays: write each map over its image (explain) or each adversarial image (attack)
            as a PNG file.
        attacks, epsilons, stability_methods: the robustness report's (evaluate).
        shard_size: images per shard of a folder tree (Parquet files and tar files are shards).
        batch_size: images per batch handed to a model actor.
        actors: model actors (default: one per GPU, else one).
        threads: torch threads per CPU actor (default: the node's cores over the actors).
        memory_budget_mb: per actor, as the server's --memory-budget-mb (0 = automatic).
    """

    kind: Kind
    source: str
    output: Path
    model: str = ""
    repository: Path = DEMO_REPOSITORY
    method: str = ""
    params: Params = field(default_factory=dict)
    target: Literal["predicted", "label"] = "predicted"
    maps: Literal["array", "png", "none"] = "array"
    overlays: bool = False
    attacks: tuple[tuple[str, Params], ...] = ()
    epsilons: tuple[float, ...] = ()
    stability_methods: tuple[str, ...] = ()
    shard_size: int = 1000
    batch_size: int = 32
    actors: int = 0
    threads: int = 0
    memory_budget_mb: int = 0

    def definition(self) -> dict[str, object]:
        """What the results mean: a rerun into the same output folder must match it."""
        keep = ("kind", "model", "method", "params", "target", "maps", "overlays", "attacks",
                "epsilons", "stability_methods")
        values = asdict(self)
        values["model"] = self.model_config().name
        return {name: _plain(values[name]) for name in keep}

    def model_config(self) -> ModelConfig:
        """The config of the job's model (read from its folder, nothing loaded).

        Raises:
            BulkError: no such model in the repository.
        """
        folders = sorted(p for p in self.repository.iterdir() if (p / CONFIG_FILE).is_file())
        configs = [read_model_config(folder) for folder in folders]
        for config in configs:
            if config.name == self.model or (not self.model and config is configs[0]):
                return config
        known = ", ".join(c.name for c in configs) or "none"
        raise BulkError(f"no model named {self.model!r} in {self.repository}; available: {known}")

    def check(self) -> None:
        """Check the job once, before Ray starts: methods, parameters, a named layer.

        Raises:
            BulkError: what is wrong, in the server's words.
        """
        if self.kind not in KINDS:
            raise BulkError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        for name in ("shard_size", "batch_size"):
            if getattr(self, name) <= 0:
                raise BulkError(f"{name} must be greater than 0")
        try:
            if self.kind == "explain":
                spec, params = resolve_explain(self.method, self.params)
                for param in spec.params:
                    if param.kind == "layer" and params[param.name]:
                        self._check_layer(str(params[param.name]))
            elif self.kind == "attack":
                _, resolved = resolve_attack(self.method, self.params)
                if resolved["target_mode"] == "given":
                    raise InvalidRequest("target_mode 'given' needs per-image targets; bulk "
                                         "jobs attack towards none, least_likely or random")
            else:
                self._check_evaluate()
        except SaliencyError as error:
            raise BulkError(str(error)) from None

    def _check_layer(self, name: str) -> None:
        """A named layer must be one the model's CAM methods can read (the network is built,
        with its weights, as the actors will: nothing else of the model is loaded)."""
        config = self.model_config()
        network = load_network(config).eval()
        layers = cam_layers(network, (config.channels, config.height, config.width))
        if name not in layers:
            raise InvalidLayer(f"model {config.name!r} has no layer {quoted(name)}; "
                               f"valid: {', '.join(layers)}")

    def _check_evaluate(self) -> None:
        if not self.attacks or not self.epsilons:
            raise InvalidRequest("an evaluation needs at least one attack and one epsilon")
        for method, params in self.attacks:
            resolve_params(method, attacker(method).params, params)
        for method in self.stability_methods:
            explainer(method)


def _plain(value: object) -> object:
    """JSON-comparable: tuples as lists, paths as text."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, Path):
        return str(value)
    return value
