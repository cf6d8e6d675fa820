# Config validation, the chosen studies and the union of their runs, and every helper function (rule files
# hold rules only). Run paths come from the train rule (rules.train.output) and augrepro.runs, nowhere else.
import functools
import json
import sys
from pathlib import Path

from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")

# The repository (workflow/Snakefile's parent): the library lives in its src/; make it importable for the
# workflow itself when it is not installed.
REPOSITORY = Path(workflow.basedir).parent
sys.path.insert(0, str(REPOSITORY / "src"))
from augrepro.data.datasets import DATASETS, get_spec  # noqa: E402
from augrepro.runs import CHECKPOINTS, EvalKey, PilotKey, RunKey, parse_dataset_key  # noqa: E402
from augrepro.studies import ConfigError, format_plan, plan_rows, select_from_config  # noqa: E402
from augrepro.studies.pilot import PilotSettings, pilot_requested  # noqa: E402
from augrepro.studies.plan import pilot_shapes  # noqa: E402
from augrepro.train.launch import slurm_resources  # noqa: E402

try:
    PILOT = pilot_requested(config.get("pilot"))
    PILOT_SETTINGS = PilotSettings.of(config.get("pilot_settings"))
    # config paths: the working directory's when there (a deployed workflow's config/), else the repository's
    SELECTION = select_from_config(config, REPOSITORY, workdir=Path.cwd())
except (ConfigError, ValueError) as exc:
    raise WorkflowError(f"Invalid config: {exc}")

# The plan before the bill: per study, runs, done, shared and estimated GPU-hours (once, not in every job).
if workflow.is_main_process:
    for name, reason in SELECTION.skipped.items():
        print(f"augrepro: study {name} skipped: {reason}", file=sys.stderr)
    for name, reason in SELECTION.partial.items():
        print(f"augrepro: study {name} runs {reason}", file=sys.stderr)
    print(format_plan(plan_rows(SELECTION)), file=sys.stderr)


wildcard_constraints:
    **{
        name: "|".join(v.replace("+", r"\+") for v in sorted(values))
        for name, values in SELECTION.wildcard_values().items()
    },
    data_name="|".join(sorted(DATASETS)),
    weights_file=r"[A-Za-z0-9_.]+-[0-9a-f]{8,64}\.pth",
    seed=r"\d+",
    det_seed=r"\d+",
    look=r"\d+",
    gpus=r"\d+",
    nodes=r"\d+",
    study="|".join(s.name for s in SELECTION.studies),


def get_runs():
    """Every run known before any look: the fixed studies' runs and the adaptive studies' first looks, each once."""
    return SELECTION.runs


def get_look(study, look):
    """An adaptive study's look (results/verdicts/{study}/look{look}.json), once its checkpoint has run."""
    with open(checkpoints.look.get(study=study, look=look).output[0]) as fh:
        return json.load(fh)


def get_final_look(study):
    """The look at which every cell of an adaptive study has stopped (each look's checkpoint runs before the next
    is asked for)."""
    look = 0
    while not (found := get_look(study, look))["finished"]:
        look += 1
    return look, found


def get_all_runs():
    """Every run of the chosen studies, the adaptive studies' looks included (for input functions only: it waits for
    the looks' checkpoints)."""
    keys = list(SELECTION.runs)
    for study in SELECTION.adaptive_studies:
        keys += [RunKey(*run) for run in get_final_look(study.name)[1]["runs"]]
    return list(dict.fromkeys(keys))


def get_run_outputs(name):
    """One output of the train rule (metrics, timing, meta, checkpoint) for every run, looks included."""
    pattern = getattr(rules.train.output, name)

    def outputs(wildcards):
        return [pattern.format(**key.wildcards()) for key in get_all_runs()]

    return outputs


def get_look_runs(name):
    """One output of the train rule for every run an adaptive study's look needs (the first look's seeds, or what the
    previous look asked for)."""
    pattern = getattr(rules.train.output, name)

    def outputs(wildcards):
        look = int(wildcards.look)
        if look == 0:
            keys = SELECTION.study(wildcards.study).runs()
        else:
            keys = [RunKey(*run) for run in get_look(wildcards.study, look - 1)["runs"]]
        return [pattern.format(**key.wildcards()) for key in keys]

    return outputs


def get_verdict_look(wildcards):
    """The final look of an adaptive study (its verdicts wait for it), nothing for a study with a seed list."""
    if wildcards.study not in {s.name for s in SELECTION.adaptive_studies}:
        return []
    look, _ = get_final_look(wildcards.study)
    return checkpoints.look.get(study=wildcards.study, look=look).output


def get_final_output():
    """The report and the aggregated results; with pilot=true only the pilot's summary (no training job)."""
    if PILOT:
        return [rules.pilot_summary.output[0]]
    return ["results/report/report.html", "results/aggregate/summary.csv"]


def get_published_tables():
    """The published tables the report compares against (one CSV per table)."""
    return sorted(str(p) for p in SELECTION.published_dir.glob("*.csv"))


def get_published_dir(wildcards, input):
    """The folder of the published tables, from the report's inputs."""
    return str(Path(input.published[0]).parent)


def get_archive(wildcards):
    """What the prepare step reads: the downloaded archives under their official file names (one, or several for
    Stanford Cars and Pascal VOC), or, for a dataset that is never downloaded (ImageNet), the folder given by data.<name>_path.
    """
    spec = get_spec(wildcards.data_name)
    if spec.downloadable:
        return [f"results/downloads/{spec.name}/{entry.name}" for entry in spec.archives()]
    key = f"{spec.name}_path"
    path = (config.get("data") or {}).get(key)
    if not path or not Path(path).is_dir():
        raise WorkflowError(
            f"{spec.name} is never downloaded: set data.{key} to a folder holding the ILSVRC2012 tarballs and "
            "devkit, or extracted train/ and val/ class folders (see resources/datasets.md)"
        )
    return path


def get_checksum(wildcards):
    """The md5 that data.checksums sets for this archive (a repackaging mirror), or None: data.checksums.<name> is
    the md5 of a dataset's one archive, or a mapping file name -> md5 for a dataset of several files."""
    entry = ((config.get("data") or {}).get("checksums") or {}).get(wildcards.data_name)
    if isinstance(entry, dict):
        return entry.get(wildcards.archive)
    return entry if entry is not None and wildcards.archive == get_spec(wildcards.data_name).archive else None


def get_prepared(wildcards):
    return f"results/data/{parse_dataset_key(wildcards.dataset)[0]}/data.npz"


def get_pretrained(wildcards):
    """The weights file of a run whose protocol starts from pretrained weights (results/pretrained/<torchvision's
    file name>), or nothing."""
    from augrepro.models.pretrained import weights_file

    run = SELECTION.resolved_run(RunKey.from_wildcards(wildcards))
    tag = run.protocol.pretrained
    return [f"results/pretrained/{weights_file(run.key.model, tag)}"] if tag else []


def get_run_config(wildcards):
    """The resolved configuration of one run: its identity, method and protocol values. It depends on the
    run's wildcards alone, so adding a study, a seed or a method leaves every other run's params unchanged."""
    return SELECTION.resolved(RunKey.from_wildcards(wildcards))


def get_train_resource(name):
    """A resource of the run's job: the largest that the studies needing the run ask for."""

    def resource(wildcards):
        return SELECTION.resources(RunKey.from_wildcards(wildcards))[name]

    return resource


def get_train_slurm(name):
    """gpu, gres or nodes of the run's job: one node asks gpu (its GPUs), several ask gres (GPUs per node) and
    nodes (augrepro.train.launch.slurm_resources); None leaves a resource out."""

    def resource(wildcards):
        res = SELECTION.resources(RunKey.from_wildcards(wildcards))
        return slurm_resources(res["gpus"], res["nodes"])[name]

    return resource


def get_train_runtime(wildcards, attempt):
    """Minutes of wall time for a training job; grows with each retry."""
    return SELECTION.resources(RunKey.from_wildcards(wildcards))["runtime_min"] * attempt


def get_evaluation_outputs(kind):
    """The result file of every evaluation job of one kind (fgsm, detection) of the chosen studies."""
    pattern = (rules.fgsm if kind == "fgsm" else rules.detect).output.result
    return [pattern.format(**job.wildcards()) for job in SELECTION.jobs_of(kind)]


def get_evaluation_paths(wildcards=None):
    """The result file of every evaluation job of the chosen studies (for the partial report: those that exist)."""
    return get_evaluation_outputs("fgsm") + get_evaluation_outputs("detection")


def get_evaluation_recipe(kind):
    """An evaluation job's recipe (config/evaluations.yaml): it depends on the recipe wildcard alone."""
    wildcard = "fgsm_recipe" if kind == "fgsm" else "det_recipe"

    def recipe(wildcards):
        return SELECTION.evaluation_recipe(kind, getattr(wildcards, wildcard))

    return recipe


def get_evaluated_checkpoint(kind):
    """The run's weights file that an evaluation job reads: its recipe's checkpoint (best: the train rule's best.pt,
    final: its checkpoint.pt; augrepro.runs.CHECKPOINTS)."""
    wildcard = "fgsm_recipe" if kind == "fgsm" else "det_recipe"

    def checkpoint(wildcards):
        choice = SELECTION.evaluation_recipe(kind, getattr(wildcards, wildcard))["checkpoint"]
        pattern = getattr(rules.train.output, CHECKPOINTS[choice])
        return pattern.format(**RunKey.from_wildcards(wildcards).wildcards())

    return checkpoint


def get_evaluation_resource(kind, name):
    """A resource of an evaluation job: the largest that the studies asking for it request."""

    def resource(wildcards):
        return SELECTION.evaluation_resources(EvalKey.from_wildcards(kind, wildcards))[name]

    return resource


def get_evaluation_runtime(kind):
    """Minutes of wall time for an evaluation job; grows with each retry."""

    def runtime(wildcards, attempt):
        return SELECTION.evaluation_resources(EvalKey.from_wildcards(kind, wildcards))["runtime_min"] * attempt

    return runtime


def get_dataset_names():
    """The datasets of the runs without the '+', each once."""
    return SELECTION.dataset_names()


def get_preview_paths():
    """The augmentation gallery: one preview per (dataset, augmentation) of the runs."""
    pairs = dict.fromkeys((key.dataset, key.augmentation) for key in get_runs())
    return [f"results/preview/{dataset}/{augmentation}.png" for dataset, augmentation in pairs]


def get_preview_entry(wildcards):
    """The method and parameters the studies give this augmentation name (an alias's method), nothing else."""
    method, params = SELECTION.method_of(wildcards.augmentation)
    return {"method": method, **params}


def get_verdict_files():
    """The verdict files of every chosen study (the report's inputs)."""
    return [path for s in SELECTION.studies for path in expand(rules.verdicts.output, study=s.name)]


def get_study_description(wildcards):
    """What the verdicts of one study need to know of it (Selection.describe()'s entry): its grid, published files,
    protocols and their statistic, margins, published-side assumptions and claims."""
    return next(s for s in SELECTION.describe()["studies"] if s["name"] == wildcards.study)


def get_report_studies():
    """What the report needs to know of the studies: the chosen ones, those skipped (with why), and the rest."""
    return SELECTION.describe()


def get_grid_keys():
    """The runs the partial report scans: every run known before any look, and the adaptive studies' later seeds that
    have started (their log or folder exists)."""
    later = [
        key
        for study in SELECTION.adaptive_studies
        for key in study.potential_runs()
        if Path(key.log).exists() or Path(key.run_dir).exists()
    ]
    return list(dict.fromkeys([*get_runs(), *later]))


def get_grid_runs(wildcards=None):
    """Every run with its identity, output folder and training log (for the partial report)."""
    return [SELECTION.grid_entry(key) for key in get_grid_keys()]


def get_grid_state(wildcards=None):
    """A fingerprint of what the runs and their evaluations left on disk: it changes whenever a run or an
    evaluation finishes, fails or is retried, so that `snakemake report_partial` reruns exactly then."""
    import hashlib

    digest = hashlib.sha256()
    paths = [path for key in get_grid_keys() for path in (key.path("metrics"), key.path("meta"), key.log)]
    for path in paths + get_evaluation_paths():
        try:
            st = Path(path).stat()
            digest.update(f"{path}:{st.st_size}:{st.st_mtime_ns};".encode())
        except OSError:
            digest.update(f"{path}:absent;".encode())
    return digest.hexdigest()


@functools.cache
def get_pilot_shapes():
    """The pilot's shapes of the chosen studies' runs (augrepro.studies.plan.pilot_shapes), computed once."""
    return pilot_shapes(SELECTION)


def get_pilot_shape(wildcards):
    key = PilotKey.from_wildcards(wildcards)
    shapes = get_pilot_shapes()
    if key not in shapes:
        raise WorkflowError(f"no run of the chosen studies has the shape {key.label()}")
    return shapes[key]


def get_pilot_results():
    """Every shape's pilot result file (the summary's inputs)."""
    return [rules.pilot.output.result.format(**key.wildcards()) for key in get_pilot_shapes()]


def get_pilot_keys():
    """Every shape's identity, in the order of get_pilot_results()."""
    from dataclasses import asdict

    return [asdict(key) for key in get_pilot_shapes()]


def get_pilot_run(wildcards):
    """The resolved configuration of the run that a shape's pilot trains (its costliest method)."""
    return SELECTION.resolved(get_pilot_shape(wildcards).run)


def get_pilot_pretrained(wildcards):
    """The weights file of the pilot's run, when its protocol starts from pretrained weights (as get_pretrained)."""
    return get_pretrained(get_pilot_shape(wildcards).run.wildcards())


def get_pilot_settings():
    """pilot_settings (steps, warm-up, runtime), defaults filled in: a param, so that changing them reruns the pilot."""
    return PILOT_SETTINGS.as_dict()


def get_pilot_resource(name):
    """A resource of a pilot job: the largest that the runs of its shape ask for."""

    def resource(wildcards):
        return get_pilot_shape(wildcards).resources[name]

    return resource


def get_pilot_slurm(name):
    """gpu, gres or nodes of a pilot job: as its shape's training jobs ask them (get_train_slurm)."""

    def resource(wildcards):
        res = get_pilot_shape(wildcards).resources
        return slurm_resources(res["gpus"], res["nodes"])[name]

    return resource


def get_pilot_runtime(wildcards, attempt):
    """Minutes of wall time for a pilot job (pilot_settings.runtime_min); grows with each retry."""
    return PILOT_SETTINGS.runtime_min * attempt
