"""The pilot's side of the plan: the shapes of runs it measures, its settings, its result files, and the bill they imply.

A *shape* is what a run's speed and memory depend on, whatever its method and seed: its protocol, dataset key and
model, and the GPUs per node and nodes its job asks for (:class:`augrepro.runs.PilotKey`). The pilot
(``snakemake --config pilot=true``, ``augrepro pilot``; the measuring job is :mod:`augrepro.train.pilot`) trains one
run of each shape for a few hundred steps on the user's own machines. It trains the shape's costliest method by the
cost declared with each method's registration (:func:`augrepro.augment.method_cost`), so the price of every run of
the shape is an upper bound.

A run's measured price (:func:`run_seconds`): its one-time start-up (loading the data and building the model, and
the warm-up steps' time beyond the steady rate) plus, per epoch, a fresh epoch's first batch (a file loader starts
its workers every epoch), its training images at the measured training rate, its test images at the measured
evaluation rate and one checkpoint save; GPU-hours are that wall time times
the processes (GPUs) it ran on. The plan (:mod:`augrepro.studies.plan`) uses it wherever the shape's pilot
succeeded and still describes the run's recipe and method (else the FLOP estimate, and it says why).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from augrepro.io import atomic_write_text
from augrepro.runs import PILOT_ROOT, PilotKey, RunKey


@dataclass(frozen=True)
class PilotSettings:
    """The config's ``pilot_settings`` (workflow/schemas/config.schema.yaml states the same defaults)."""

    # Measured training steps. A few hundred: a GPU's step time varies by a percent or two, so the mean of 300 is
    # good to well under 1 %, and 300 steps outlast the 2 x workers batches a DataLoader holds ready (the measured
    # rate is then the loader's steady one); on a GPU they take seconds to a few minutes per shape.
    steps: int = 300
    # Steps trained before the timing starts (not counted): cuDNN's algorithm search, the allocator's growth,
    # torch.compile, and the loader's workers and prefetch filling up all happen in the first steps.
    warmup: int = 50
    # Minutes each pilot job asks of the scheduler; a pilot that has not finished within 90 % of them is stopped and
    # recorded as timed out (the rest is left to write its result).
    runtime_min: int = 30

    @classmethod
    def of(cls, settings: Mapping[str, Any] | PilotSettings | None = None) -> PilotSettings:
        """From the config's mapping; a key set to None keeps its default; an unknown key or a value out of range
        is refused, naming it."""
        if isinstance(settings, PilotSettings):
            return settings
        settings = {k: v for k, v in dict(settings or {}).items() if v is not None}
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(settings) - set(names))
        if unknown:
            raise ValueError(f"unknown pilot setting(s) {', '.join(unknown)}; valid: {', '.join(names)}")
        for name, low in (("steps", 1), ("warmup", 0), ("runtime_min", 1)):
            if name not in settings:
                continue
            value = settings[name]
            if isinstance(value, str) and value.strip().isdigit():  # --config pilot_settings='{steps: 100}'
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"pilot_settings.{name} is {settings[name]!r}; expected an integer >= {low}")
            settings[name] = value
        return cls(**settings)

    @property
    def deadline_seconds(self) -> float:
        """How long the measuring worker may run before it is stopped and recorded as timed out."""
        return 0.9 * 60.0 * self.runtime_min

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def pilot_requested(value: Any) -> bool:
    """The config's ``pilot``: a boolean, or ``true`` / ``false`` as a string (``--config pilot=true``: Snakemake
    passes command-line values as strings)."""
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value is None or isinstance(value, bool):
        return bool(value)
    raise ValueError(f"pilot is {value!r}; expected true or false")


@dataclass(frozen=True)
class Shape:
    """One shape of the selection's runs: its runs, the run its pilot trains, and what that job asks for."""

    key: PilotKey
    runs: tuple[RunKey, ...]
    run: RunKey  # the costliest method of the shape (the plan's per-method cost), its first seed in grid order
    resources: dict[str, int]  # the largest request of the studies that need the shape's runs


def run_resources(selection) -> dict[RunKey, dict[str, int]]:
    """Every run's resources (what :meth:`Selection.resources` returns for it), in one pass over the studies."""
    out: dict[RunKey, dict[str, int]] = {}
    for study in selection.studies:
        for key in study.runs():
            have = out.get(key)
            out[key] = (
                dict(study.resources) if have is None else {k: max(v, study.resources[k]) for k, v in have.items()}
            )
    return out


def shapes_of(selection, method_cost: Callable[[str], float]) -> dict[PilotKey, Shape]:
    """Every shape of the selection's runs, each once, in the order of the runs, with the run its pilot trains: the
    costliest method by ``method_cost`` (a registered method's step cost; the plan's ``pilot_shapes`` gives the
    declared one, :func:`augrepro.augment.method_cost`)."""
    resources = run_resources(selection)
    grouped: dict[PilotKey, list[RunKey]] = {}
    for key in selection.runs:
        res = resources[key]
        grouped.setdefault(PilotKey.of(key, res["gpus"], res["nodes"]), []).append(key)
    shapes = {}
    for shape, keys in grouped.items():
        costs = [method_cost(selection.resolved_run(k).method) for k in keys]
        chosen = keys[costs.index(max(costs))]
        merged = {name: max(resources[k][name] for k in keys) for name in resources[keys[0]]}
        shapes[shape] = Shape(shape, tuple(keys), chosen, merged)
    return shapes


def shape_of_runs(shapes: Mapping[PilotKey, Shape]) -> dict[RunKey, PilotKey]:
    return {run: shape.key for shape in shapes.values() for run in shape.runs}


# --- result files ----------------------------------------------------------------------------------


# What a measured result must hold for its price (run_seconds).
PRICE_FIELDS = (
    "train_images_per_second",
    "eval_images_per_second",
    "train_images",
    "test_images",
    "setup_seconds",
    "warmup_seconds",
    "warmup_images",
    "epoch_start_seconds",
    "checkpoint_seconds",
    "world_size",
    "epochs",
)


def read_result(path: str | Path) -> dict[str, Any]:
    """A pilot job's result file; an unreadable one, or a measurement without what its price needs (an older
    augrepro's), reads as a failure saying so."""
    try:
        with open(path, encoding="utf-8") as fh:
            record = json.load(fh)
        if not isinstance(record, dict) or record.get("status") not in ("ok", "failed"):
            raise ValueError("not a pilot result (no status 'ok' or 'failed')")
        missing = [f for f in PRICE_FIELDS if record["status"] == "ok" and f not in record]
        if missing:
            raise ValueError(f"lacks {', '.join(missing)} (an older augrepro wrote it): delete it and pilot again")
        return record
    except (OSError, ValueError) as exc:
        return {"status": "failed", "failure": {"kind": "unreadable", "message": f"{path}: {exc}"}}


def _comparable(run: Mapping[str, Any]) -> tuple:
    """What a pilot's measurement depends on in a resolved run: the protocol's values and the method's."""
    data = json.loads(json.dumps({k: run.get(k) for k in ("recipe", "method", "method_params")}, default=str))
    return data["recipe"], data["method"], data["method_params"]


@dataclass(frozen=True)
class Measured:
    """A shape's pilot as the plan uses it: ``state`` is measured, failed, stale or missing, with why."""

    key: PilotKey
    state: str
    reason: str = ""
    record: dict[str, Any] | None = None


def load_pilot(selection, shapes: Mapping[PilotKey, Shape]) -> dict[PilotKey, Measured]:
    """Every shape's pilot result under the selection's results/pilot/: measured (usable for prices), failed (with
    its failure), stale (it measured another recipe or method than the shape's runs have now) or missing."""
    out = {}
    for key, shape in shapes.items():
        path = Path(selection.root) / key.result
        if not path.is_file():
            out[key] = Measured(key, "missing", "no pilot result")
            continue
        record = read_result(path)
        if record["status"] != "ok":
            failure = record.get("failure") or {}
            out[key] = Measured(key, "failed", f"{failure.get('kind', 'error')}: {failure.get('message', '?')}", record)
        elif _comparable(record.get("config") or {}) != _comparable(selection.resolved(shape.run)):
            out[key] = Measured(
                key,
                "stale",
                f"it measured {record.get('run', '?')} with other protocol or method values than {shape.run.label()} "
                "has now (rerun it with --config pilot=true)",
                record,
            )
        else:
            out[key] = Measured(key, "measured", "", record)
    return out


def has_results(root: str | Path) -> bool:
    """Whether any pilot ran under ``root`` (the plan reads no pilot otherwise)."""
    return (Path(root) / PILOT_ROOT).is_dir()


# --- the price of a run ----------------------------------------------------------------------------


def run_seconds(record: Mapping[str, Any], epochs: int) -> float:
    """Wall seconds of a whole run of ``epochs`` epochs of the pilot's shape: its start-up (setup, and the warm-up
    steps' time beyond the steady rate) plus, per epoch, a fresh epoch's first batch (a file loader's workers start
    again), its training images at the measured training rate, its test images at the measured evaluation rate and
    one checkpoint save."""
    train_rate, eval_rate = record["train_images_per_second"], record["eval_images_per_second"]
    warmup_excess = max(0.0, record["warmup_seconds"] - record["warmup_images"] / train_rate)
    per_epoch = (
        record["epoch_start_seconds"]
        + record["train_images"] / train_rate
        + record["test_images"] / eval_rate
        + record["checkpoint_seconds"]
    )
    return record["setup_seconds"] + warmup_excess + int(epochs) * per_epoch


def run_device_hours(record: Mapping[str, Any], epochs: int) -> float:
    """GPU-hours of a whole run (device-hours on the CPU): its wall hours times the processes it runs on."""
    return run_seconds(record, epochs) / 3600.0 * int(record["world_size"])


# --- the summary -----------------------------------------------------------------------------------

SUMMARY_COLUMNS = [
    "shape",
    "protocol",
    "dataset",
    "model",
    "gpus",
    "nodes",
    "status",
    "failure_kind",
    "failure",
    "augmentation",
    "method",
    "world_size",
    "batch_size",
    "steps",
    "train_images_per_second",
    "eval_images_per_second",
    "peak_gpu_allocated_gib",
    "peak_gpu_reserved_gib",
    "gpu_memory_gib",
    "peak_host_memory_gib",
    "epochs",
    "run_hours",
    "run_gpu_hours",
    "device_name",
    "result",
    "log",
]
GIB = 1024.0**3


def summary_row(key: PilotKey, record: Mapping[str, Any]) -> dict[str, Any]:
    """One shape's line of results/pilot/summary.csv."""
    failure = record.get("failure") or {}
    row: dict[str, Any] = {c: "" for c in SUMMARY_COLUMNS}
    row.update(
        shape=key.label(),
        protocol=key.protocol,
        dataset=key.dataset_key,
        model=key.model,
        gpus=key.gpus,
        nodes=key.nodes,
        status=record["status"],
        failure_kind=failure.get("kind", ""),
        failure=failure.get("message", ""),
        result=key.result,
        log=key.log,
    )
    for name in ("augmentation", "method", "world_size", "batch_size", "steps", "epochs", "device_name"):
        row[name] = record.get(name, "")
    memory = record.get("memory") or {}
    for name in ("peak_gpu_allocated", "peak_gpu_reserved", "gpu_memory", "peak_host_memory"):
        if memory.get(f"{name}_bytes") is not None:
            row[f"{name}_gib"] = round(memory[f"{name}_bytes"] / GIB, 3)
    if record["status"] == "ok":
        row["train_images_per_second"] = record["train_images_per_second"]
        row["eval_images_per_second"] = record["eval_images_per_second"]
        row["run_hours"] = run_seconds(record, record["epochs"]) / 3600.0
        row["run_gpu_hours"] = run_device_hours(record, record["epochs"])
    return row


def write_summary(results: Iterable[tuple[PilotKey, str | Path]], out: str | Path) -> list[dict[str, Any]]:
    """results/pilot/summary.csv from every shape's result file (written atomically); returns its rows."""
    rows = [summary_row(key, read_result(path)) for key, path in results]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out, buf.getvalue())
    return rows


def format_summary(rows: list[dict[str, Any]]) -> str:
    """The summary as the pilot prints it: every shape's rates, memory and price, then each failed shape by name with
    why and its log."""
    failed = [r for r in rows if r["status"] != "ok"]
    lines = [f"augrepro pilot: {len(rows)} shapes, {len(rows) - len(failed)} measured, {len(failed)} failed"]
    width = max([len("shape")] + [len(r["shape"]) for r in rows])
    lines.append(
        f"  {'shape':<{width}}  {'status':<6}  {'train img/s':>11}  {'eval img/s':>10}  {'GPU GiB':>7}  "
        f"{'host GiB':>8}  {'run h':>8}  {'GPU-h/run':>9}  device"
    )

    def cell(value, width: int, fmt: str) -> str:
        return format(value, f"{width}{fmt}") if value != "" else "-".rjust(width)

    for r in rows:
        lines.append(
            f"  {r['shape']:<{width}}  {r['status']:<6}  {cell(r['train_images_per_second'], 11, ',.1f')}  "
            f"{cell(r['eval_images_per_second'], 10, ',.1f')}  {cell(r['peak_gpu_reserved_gib'], 7, '.2f')}  "
            f"{cell(r['peak_host_memory_gib'], 8, '.2f')}  {cell(r['run_hours'], 8, ',.4f')}  "
            f"{cell(r['run_gpu_hours'], 9, ',.4f')}  {r['device_name'] or '-'}"
        )
    for r in failed:
        message = (r["failure"].splitlines() or [""])[0]
        message = message if len(message) <= 400 else message[:400] + " ..."
        lines.append(f"augrepro pilot: FAILED {r['shape']}: {r['failure_kind']}: {message} (log: {r['log']})")
    if failed:  # a failed pilot's result file is complete to Snakemake: after a fix, it is forced to run again
        files = " ".join(r["result"] for r in failed)
        lines.append(
            f"augrepro pilot: after a fix, pilot the failed shapes again: --config pilot=true --forcerun {files}"
        )
    return "\n".join(lines)
