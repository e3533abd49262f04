"""`saliency bulk explain|attack|evaluate`; also `saliency-bulk`, `python -m saliency_service.bulk`.

    saliency bulk explain images/ -o out/ --method grad_cam --overlays
    saliency bulk attack data.parquet -o adv/ --method pgd --param eps=8/255
    saliency bulk evaluate 'shards/' -o robust/ --attack fgsm --attack pgd:steps=10 \\
        --eps 1/255 --eps 4/255 --stability vanilla_gradient

Runs on a local Ray instance, or on a cluster given `--address` (or RAY_ADDRESS).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from saliency_client._cli_support import number, param

from saliency_service.bulk.job import BulkError, BulkJob
from saliency_service.bulk.pipeline import run_bulk
from saliency_service.bulk.report import format_report
from saliency_service.config import DEMO_REPOSITORY
from saliency_service.models.config import ModelConfigError
from saliency_service.params import ParamValue

MiB = 1 << 20


def _param(text: str) -> tuple[str, ParamValue]:
    """NAME=VALUE, as `saliency explain --param` takes it (eps included: bulk jobs have no
    per-image ε)."""
    return param(text, reserved=frozenset())


def _attack(text: str) -> tuple[str, dict[str, ParamValue]]:
    """NAME or NAME:PARAM=VALUE,PARAM=VALUE."""
    name, _, rest = text.partition(":")
    return name, dict(_param(part) for part in rest.split(",") if part)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="saliency bulk",
        description="Explain, attack or evaluate a whole data set on Ray Data; results as "
        "Parquet (one row per image), a rerun skips the shards already written.",
    )
    kinds = parser.add_subparsers(dest="kind", required=True)
    subs = {
        "explain": kinds.add_parser("explain", help="a map per image"),
        "attack": kinds.add_parser("attack", help="an adversarial example per image"),
        "evaluate": kinds.add_parser("evaluate", help="accuracy under attack, map stability"),
    }
    for kind, sub in subs.items():
        sub.add_argument("source", help="folder of images, Parquet file(s) or WebDataset .tar")
        sub.add_argument("-o", "--output", type=Path, required=True, help="results folder")
        sub.add_argument("--model", default="", help="model name (default: the first)")
        sub.add_argument("--repository", type=Path, default=DEMO_REPOSITORY,
                         help="model repository (default: the built-in demo repository)")
        if kind != "evaluate":
            sub.add_argument("--method", required=True)
            sub.add_argument("--param", type=_param, action="append", default=[],
                             metavar="NAME=VALUE", help="a method parameter (repeatable)")
        sub.add_argument("--overlays", action="store_true",
                         help="also write PNGs: maps over images, or adversarial images")
        sub.add_argument("--shard-size", type=int, default=1000,
                         help="images per shard of a folder tree (1000)")
        sub.add_argument("--batch-size", type=int, default=32, help="images per actor batch")
        sub.add_argument("--actors", type=int, default=0,
                         help="model actors (default: one per GPU, else one)")
        sub.add_argument("--threads", type=int, default=0, help="torch threads per CPU actor")
        sub.add_argument("--memory-budget-mb", type=int, default=0,
                         help="MiB per actor for passes (0 = as the server: automatic)")
        sub.add_argument("--address", help="Ray cluster address (default: $RAY_ADDRESS, else a "
                         "local Ray instance)")
        sub.add_argument("--num-cpus", type=int, help="CPUs of a local Ray instance")
        sub.add_argument("--object-store-mb", type=int, help="object store of a local instance")
        sub.add_argument("--no-progress", action="store_true", help="no progress bar")
    subs["explain"].add_argument("--target", choices=("predicted", "label"), default="predicted",
                                 help="explain the predicted class or the data set's label")
    subs["explain"].add_argument("--maps", choices=("array", "png", "none"), default="array",
                                 help="maps as Parquet arrays, PNG files, or not at all")
    subs["evaluate"].add_argument("--attack", type=_attack, action="append", required=True,
                                  metavar="NAME[:P=V,...]", help="an attack (repeatable)")
    subs["evaluate"].add_argument("--eps", type=number, action="append", required=True,
                                  help="an ε, e.g. 4/255 (repeatable)")
    subs["evaluate"].add_argument("--stability", action="append", default=[], metavar="METHOD",
                                  help="an explanation method whose stability to measure")
    return parser


def job_from(args: argparse.Namespace) -> BulkJob:
    """The job the parsed command line describes."""
    evaluate = args.kind == "evaluate"
    return BulkJob(
        kind=args.kind,
        source=args.source,
        output=args.output,
        model=args.model,
        repository=args.repository,
        method="" if evaluate else args.method,
        params={} if evaluate else dict(args.param),
        target=getattr(args, "target", "predicted"),
        maps=getattr(args, "maps", "array"),
        overlays=args.overlays,
        attacks=tuple(args.attack) if evaluate else (),
        epsilons=tuple(args.eps) if evaluate else (),
        stability_methods=tuple(args.stability) if evaluate else (),
        shard_size=args.shard_size,
        batch_size=args.batch_size,
        actors=args.actors,
        threads=args.threads,
        memory_budget_mb=args.memory_budget_mb,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status (0 ok, 1 error, 2 bad usage, 130 interrupted)."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    local: dict[str, object] = {}
    if args.num_cpus is not None:
        local["num_cpus"] = args.num_cpus
    if args.object_store_mb is not None:
        local["object_store_memory"] = args.object_store_mb * MiB
    try:
        report = run_bulk(job_from(args), address=args.address, progress=not args.no_progress,
                          ray_init=local)
    except (BulkError, ModelConfigError, OSError) as error:
        print(f"saliency bulk: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(format_report(report))
    print(f"results in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
