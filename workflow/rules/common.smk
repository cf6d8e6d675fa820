# Config validation, the grid of runs, and every helper function (rule files hold rules only).
import sys
from pathlib import Path

from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")

# The library lives in src/; make it importable for the workflow itself when it is not installed.
sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from augrepro.data.datasets import DATASETS, get_spec, parse_dataset_key  # noqa: E402
from augrepro.train.config import ConfigError, load_presets, resolve_run, validate_config  # noqa: E402

try:
    PRESETS = load_presets(config["presets"])
    validate_config(config, PRESETS)
except ConfigError as exc:
    raise WorkflowError(f"Invalid config: {exc}")

RUN_DIR = "results/runs/{dataset}/{model}/{augmentation}/seed{seed}"  # one folder per run
TRAIN_LOG = "results/logs/train/{dataset}/{model}/{augmentation}/seed{seed}.log"  # rule train's log


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
    """What the prepare step reads - the downloaded archive under its official file name, or, for a
    dataset that is never downloaded (ImageNet), the folder given by data.<name>_path."""
    spec = get_spec(wildcards.data_name)
    if spec.downloadable:
        return f"results/downloads/{spec.name}/{spec.archive}"
    key = f"{spec.name}_path"
    path = (config.get("data") or {}).get(key)
    if not path:
        raise WorkflowError(
            f"{spec.name} is never downloaded: set data.{key} to a folder holding the ILSVRC2012 tarballs and "
            "devkit, or extracted train/ and val/ class folders (see resources/datasets.md)"
        )
    if not Path(path).is_dir():
        raise WorkflowError(f"data.{key} is {path!r}, which is not a folder; point it at your {spec.name} copy")
    return path


def get_checksum(wildcards):
    """The md5 that data.checksums sets for this dataset's archive (a repackaging mirror), or None."""
    return ((config.get("data") or {}).get("checksums") or {}).get(wildcards.data_name)


def get_prepared(wildcards):
    name, _ = parse_dataset_key(wildcards.dataset)
    return f"results/data/{name}/data.npz"


def get_run_config(wildcards):
    """The resolved configuration of one run; it depends on that run's wildcards alone."""
    return resolve_run(
        config, wildcards.dataset, wildcards.model, wildcards.augmentation, int(wildcards.seed), PRESETS
    )


def get_train_runtime(wildcards, attempt):
    """Minutes of wall time for a training job; grows with each retry."""
    return int(config["resources"]["train_runtime_min"]) * attempt


def get_dataset_names():
    """The datasets of the grid without the '+' of the crop-and-flip variants, each once."""
    return list(dict.fromkeys(parse_dataset_key(key)[0] for key in config["datasets"]))


def get_preview_paths():
    """The augmentation gallery: one preview per (dataset, augmentation) of the grid."""
    return expand(
        "results/preview/{data_name}/{augmentation}.png",
        data_name=get_dataset_names(),
        augmentation=config["augmentations"],
    )


def get_preview_entry(wildcards):
    """This augmentation's own entry under `methods` (parameters, or an alias's `method:`), nothing else."""
    return (config.get("methods") or {}).get(wildcards.augmentation) or {}


def get_grid_runs(wildcards=None):
    """Every configured run with its identity, output folder and training log (for partial reports)."""
    from types import SimpleNamespace

    grid = []
    for key in config["datasets"]:
        for model in config["models"]:
            for augmentation in config["augmentations"]:
                for seed in config["seeds"]:
                    fields = {"dataset": key, "model": model, "augmentation": augmentation, "seed": seed}
                    # the same resolution as rule train's params, so the two never disagree
                    run = get_run_config(SimpleNamespace(**{k: str(v) for k, v in fields.items()}))
                    grid.append(
                        {
                            "dataset": run["dataset"],
                            "traditional": run["traditional"],
                            "model": model,
                            "augmentation": augmentation,
                            "method": run["method"],
                            "variant": run["method_params"].get("variant"),
                            "seed": int(seed),
                            "epochs": int(run["training"]["epochs"]),
                            "run_dir": RUN_DIR.format(**fields),
                            "log": TRAIN_LOG.format(**fields),
                        }
                    )
    return grid


def get_grid_state(wildcards=None):
    """A fingerprint of what the grid's runs left on disk: it changes whenever a run finishes,
    fails or is retried, so that `snakemake report_partial` reruns exactly then."""
    import hashlib

    digest = hashlib.sha256()
    for run in get_grid_runs():
        for path in (f"{run['run_dir']}/metrics.csv", f"{run['run_dir']}/meta.json", run["log"]):
            try:
                st = Path(path).stat()
                digest.update(f"{path}:{st.st_size}:{st.st_mtime_ns};".encode())
            except OSError:
                digest.update(f"{path}:absent;".encode())
    return digest.hexdigest()
