"""``augrepro``: the library's command line, for use outside Snakemake.

    augrepro methods                      list the registered mixing methods, their parameters and sources
    augrepro plan [--config config/paper.yaml] [--studies a,b] [--imagenet-path DIR] [--local-dir DIR]
                                          per study: runs, runs done, runs shared, GPU-hours (measured by the
                                          pilot or estimated) and which, seeds run and seeds needed for 80 %
                                          power, margins
    augrepro plan --margins               every published cell's margin (points and run-to-run stds) and power
    augrepro plan --write-costs           recount resources/model_costs.csv (every study's model shapes)
    augrepro pilot [--config ...] [--studies a,b] [--steps 300] [--warmup 50] [--runtime-min 30] [--device cuda]
                                          the pilot on this machine: every shape of the chosen studies' runs measured
                                          (from the prepared data in results/data/), results/pilot/summary.csv, and
                                          the plan on the measurements; exits 1 when a shape failed
    augrepro preview --data results/data/demo/data.npz --dataset demo --method cutmix --out cutmix.png \\
                     [--params '{"beta": 1.0}'] [--count 8] [--seed 0] [--epoch 2] \\
                     [--model resnet8 | --checkpoint results/runs/.../checkpoint.pt]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from augrepro.models.pretrained import weights_file
from augrepro.runs import PILOT_SUMMARY
from augrepro.studies import ConfigError, format_plan, plan_rows, select_from_config
from augrepro.studies.costs import DEFAULT_COSTS, write_costs
from augrepro.studies.pilot import PilotSettings, format_summary, write_summary
from augrepro.studies.plan import format_margins, pilot_shapes
from augrepro.train.pilot import run_pilot
from augrepro.train.pilot_result import record_failure


def _params(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"augrepro: --params must be a JSON object such as '{{\"beta\": 1.0}}' ({exc})") from None
    if not isinstance(value, dict):
        raise SystemExit(f"augrepro: --params must be a JSON object such as '{{\"beta\": 1.0}}', got {text!r}")
    return value


def cmd_methods(_args) -> int:
    from augrepro.augment import AUGMENTATIONS, method_class, method_parameters

    for name in AUGMENTATIONS.names():
        fields = ", ".join(f"{f.name}={f.default!r}" for f in method_parameters(name))
        print(f"{name}({fields})\n    {method_class(name).source}")
    return 0


def cmd_preview(args) -> int:
    from augrepro.report.preview import render_preview

    out = render_preview(
        args.data,
        args.dataset,
        args.method,
        args.out,
        params=_params(args.params),
        count=args.count,
        seed=args.seed,
        epoch=args.epoch,
        architecture=args.model,
        checkpoint=args.checkpoint,
    )
    print(out)
    return 0


def _config(args) -> dict:
    """The workflow's config as Snakemake would read it: config/config.yaml, each --config file merged over it, then
    --studies, --imagenet-path and --local-dir."""
    config: dict = {}
    for path in ["config/config.yaml", *(args.config or [])]:
        with open(f"{args.root}/{path}" if not path.startswith("/") else path) as fh:
            config.update(yaml.safe_load(fh) or {})  # as Snakemake merges top-level keys of --configfile
    if args.studies:
        config["studies"] = "all" if args.studies == "all" else args.studies.split(",")
    if args.imagenet_path:
        config["data"] = {**(config.get("data") or {}), "imagenet_path": args.imagenet_path}
    if args.local_dir:
        config["data"] = {**(config.get("data") or {}), "local_dir": args.local_dir}
    return config


def cmd_plan(args) -> int:

    root = args.root
    config = _config(args)
    try:
        if args.write_costs:
            # every study's data counted as available (ImageNet's folder, Stanford Cars' files): only the shapes matter
            everything = {**config, "studies": "all", "data": {"imagenet_path": root, "local_dir": root}}
            write_costs(
                [select_from_config(everything, root), select_from_config({**config, "studies": ["demo"]}, root)]
            )
            print(f"wrote {DEFAULT_COSTS}")
            return 0
        selection = select_from_config(config, root)
    except ConfigError as exc:
        print(f"augrepro plan: {exc}", file=sys.stderr)
        return 2
    if args.margins:
        print(format_margins(selection))
        return 0
    print(format_plan(plan_rows(selection)))
    return 0


def cmd_pilot(args) -> int:
    """The pilot outside Snakemake: every shape's pilot job on this machine, one after another (its GPUs: the first
    ones visible), from the prepared data in results/data/; then the summary and the plan on the measurements."""
    config = _config(args)
    root = Path(args.root)
    try:
        selection = select_from_config(config, root)
        overrides = {"steps": args.steps, "warmup": args.warmup, "runtime_min": args.runtime_min}
        settings = PilotSettings.of({**(config.get("pilot_settings") or {}), **overrides})
    except (ConfigError, ValueError) as exc:
        print(f"augrepro pilot: {exc}", file=sys.stderr)
        return 2
    execution = dict(config.get("training") or {})
    if args.device:
        execution["device"] = args.device
    results = []
    for key, shape in pilot_shapes(selection).items():
        run, result = selection.resolved_run(shape.run), root / key.result
        per_node, nodes = max(1, shape.resources["gpus"]), shape.resources["nodes"]
        data = root / f"results/data/{key.dataset}/data.npz"
        tag = run.protocol.pretrained
        weights = root / "results/pretrained" / weights_file(run.key.model, tag) if tag else None
        missing = next((p for p in (data, weights) if p is not None and not p.is_file()), None)
        if missing is not None:
            message = (
                f"{missing} is not there: prepare it first (`snakemake {missing.relative_to(root)}`), or run the "
                "pilot through Snakemake (`snakemake --config pilot=true` prepares what it needs)"
            )
            record_failure(key, run, result, "missing_data", message, per_node * nodes, settings)
        else:
            run_pilot(key, run, data, result, execution, shape.resources["threads"], per_node, nodes, settings, weights)
        results.append((key, result))
    rows = write_summary(results, root / PILOT_SUMMARY)
    print(format_summary(rows))
    print(format_plan(plan_rows(selection)))
    return 1 if any(r["status"] != "ok" for r in rows) else 0


def _selection_arguments(p: argparse.ArgumentParser) -> None:
    """The options that choose the studies, as the workflow's config does (augrepro plan, augrepro pilot)."""
    p.add_argument("--config", action="append", help="a config file merged over config/config.yaml (repeatable)")
    p.add_argument("--studies", default=None, help="comma-separated study names, or 'all' (default: the config's)")
    p.add_argument("--imagenet-path", default=None, help="your ImageNet copy (data.imagenet_path)")
    p.add_argument("--local-dir", default=None, help="your folder of dataset archives (data.local_dir; Stanford Cars)")
    p.add_argument("--root", default=".", help="the project folder (default: the current one)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="augrepro", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("methods", help="list the registered mixing methods").set_defaults(func=cmd_methods)
    p = sub.add_parser("preview", help="write a PNG grid of a method on a dataset's real images")
    p.add_argument("--data", required=True, help="prepared dataset, e.g. results/data/demo/data.npz")
    p.add_argument("--dataset", required=True, help="dataset name of that file (demo, cifar10, ...)")
    p.add_argument("--method", required=True, help="registered method name (see `augrepro methods`)")
    p.add_argument("--out", required=True, help="PNG to write")
    p.add_argument("--params", default=None, help="method parameters as a JSON object")
    p.add_argument("--count", type=int, default=8, help="number of images (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws and of a fresh model (default 0)")
    p.add_argument("--epoch", type=int, default=2, help="1-based epoch the method sees (default 2: HybridMix mixes)")
    p.add_argument("--model", default="resnet8", help="architecture of the fresh model for model-based methods")
    p.add_argument("--checkpoint", default=None, help="checkpoint.pt of a training run to use instead")
    p.set_defaults(func=cmd_preview)
    p = sub.add_parser("plan", help="per study: runs, done, shared, GPU-hours (measured or estimated), before any run")
    _selection_arguments(p)
    p.add_argument("--write-costs", action="store_true", help="recount resources/model_costs.csv")
    p.add_argument("--margins", action="store_true", help="every published cell's margin and the seeds it needs")
    p.set_defaults(func=cmd_plan)
    p = sub.add_parser("pilot", help="measure every shape of the chosen studies' runs on this machine (the pilot)")
    _selection_arguments(p)
    p.add_argument("--steps", type=int, default=None, help="timed training steps per shape (pilot_settings.steps)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (pilot_settings.warmup)")
    p.add_argument("--runtime-min", type=int, default=None, help="each shape's time limit (pilot_settings.runtime_min)")
    p.add_argument("--device", default=None, help="training.device for the pilot: auto, cpu, cuda, cuda:N")
    p.set_defaults(func=cmd_pilot)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, KeyError, FileNotFoundError) as exc:
        print(f"augrepro {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
