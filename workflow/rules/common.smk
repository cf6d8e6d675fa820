# Config validation, the grid of runs, and every helper function (rule files hold rules only).
import sys
from pathlib import Path

from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")

# The library lives in src/; make it importable for the workflow itself when it is not installed.
sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from augrepro.data.datasets import DATASETS, get_spec, parse_dataset_key  # noqa: E402
from augrepro.train.config import ConfigError, resolve_run, validate_config  # noqa: E402

try:
    validate_config(config)
except ConfigError as exc:
    raise WorkflowError(f"Invalid config: {exc}")

RUN_DIR = "results/runs/{dataset}/{model}/{augmentation}/seed{seed}"  # one folder per run


wildcard_constraints:
    dataset="|".join(sorted(config["datasets"])).replace("+", r"\+"),
    data_name="|".join(sorted(DATASETS)),
    model="|".join(config["models"]),
    augmentation="|".join(config["augmentations"]),
    seed=r"\d+",


def get_run_dirs():
    """Every run of the grid: datasets x models x augmentations x seeds."""
    return expand(
        RUN_DIR,
        dataset=config["datasets"],
        model=config["models"],
        augmentation=config["augmentations"],
        seed=config["seeds"],
    )


def get_run_outputs(name):
    return [f"{d}/{name}" for d in get_run_dirs()]


def get_final_output():
    return ["results/report/report.html", "results/aggregate/summary.csv"]


def get_published_tables():
    """The published tables the report compares against (one CSV per table)."""
    return sorted(str(p) for p in Path(config["published"]).glob("*.csv"))


def get_archive(wildcards):
    """The downloaded archive behind a dataset, under its official file name."""
    spec = get_spec(wildcards.data_name)
    return f"results/downloads/{spec.name}/{spec.archive}"


def get_prepared(wildcards):
    name, _ = parse_dataset_key(wildcards.dataset)
    return f"results/data/{name}/data.npz"


def get_run_config(wildcards):
    """The resolved configuration of one run; it depends on that run's wildcards alone."""
    return resolve_run(config, wildcards.dataset, wildcards.model, wildcards.augmentation, int(wildcards.seed))


def get_train_runtime(wildcards, attempt):
    """Minutes of wall time for a training job; grows with each retry."""
    return int(config["resources"]["train_runtime_min"]) * attempt
