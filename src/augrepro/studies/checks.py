"""The checks of the input files that a schema cannot say: across files and against the registries.

Each file's shape (keys, types, ranges, required keys, the valid values of a key) is its JSON schema's
(workflow/schemas/, validated by :mod:`augrepro.schemas` when the file is loaded). What is left needs more than
one file or the library: a study's protocol exists and works on its datasets, its datasets, models and methods
are registered and build with the protocol's values, its published files exist and each of their cells has a
margin, its claims name methods and protocols it runs, its evaluations name recipes that exist and suit its
backbones, and no run is evaluated by two recipes of one kind. Every check runs before any job starts, and each
message names the file, the key and the valid values.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pandas as pd

from augrepro.augment import AUGMENTATIONS
from augrepro.data.datasets import DATASETS, get_spec
from augrepro.data.file_pipelines import FILE_PIPELINES, check_file_pipeline
from augrepro.data.pipeline_spec import parse_pixel_pipeline
from augrepro.models import MODELS
from augrepro.models.pretrained import WEIGHTS
from augrepro.models.registry import IMAGENET_MODELS, check_model_options
from augrepro.resolved import Protocol
from augrepro.results.margins import MarginError, resolve_margins
from augrepro.results.published import load_published
from augrepro.results.scope import dataset_test_images
from augrepro.runs import RunKey, parse_dataset_key
from augrepro.studies.builds import Builds, add_build, check_builds
from augrepro.studies.protocols import (
    ConfigError,
    batch_per_process,
    protocol_values,
    replicas_per_process,
    resolve_protocol,
)
from augrepro.studies.study import Grid, Study, alias_table, architecture, method_of, method_params


@functools.cache
def _published_tables(published_dir: str) -> pd.DataFrame:
    return load_published(published_dir)


def check_margins(study: Study, published_dir: str | Path) -> None:
    """Every published cell of the study has a margin it declared before any run (its ``margin`` rules, each
    applicable: augrepro.results.margins)."""
    published = _published_tables(str(published_dir))
    protocols = set(study.protocols)
    cells = published[published["file"].isin(study.published) & published["protocol"].isin(protocols)]
    if cells.empty:
        return
    if not study.margin:
        raise ConfigError(
            f"{study.path}: the study answers {len(cells)} published cells but declares no margin; add one before any "
            "run, with its reason, e.g. margin: {sd: 2, reason: <why>} (augrepro.results.margins)"
        )
    try:
        resolve_margins(study.margin, cells, dataset_test_images, study.path)
    except MarginError as exc:
        raise ConfigError(str(exc)) from None


def validate_evaluations(
    all_studies: dict[str, Study],
    protocols: dict[str, dict[str, Any]],
    evaluations: dict[str, dict[str, dict[str, Any]]],
) -> None:
    """Every evaluation names a recipe of its kind; detection backbones are ImageNet-style ResNets; and no run
    is evaluated by two recipes of one kind (one run's result is one cell of the summary)."""
    owner: dict[tuple[str, RunKey], tuple[str, str]] = {}
    for study in all_studies.values():
        for evaluation in study.evaluations:
            recipes = evaluations.get(evaluation.kind) or {}
            if evaluation.recipe not in recipes:
                raise ConfigError(
                    f"{study.path}: evaluate.{evaluation.kind}: unknown recipe {evaluation.recipe!r}; "
                    f"valid {evaluation.kind} recipes: "
                    f"{', '.join(sorted(recipes)) or 'none'} (config/evaluations.yaml)"
                )
            for grid in study.grids:
                for key in grid.datasets:
                    name, _ = parse_dataset_key(key)
                    values = protocol_values(protocols, grid.protocol, name)
                    if evaluation.kind == "detection" and (
                        architecture(values, get_spec(name)) != "imagenet"
                        or any(m not in IMAGENET_MODELS for m in grid.models)
                    ):
                        raise ConfigError(
                            f"{study.path}: evaluate.detection needs torchvision (ImageNet-style) ResNet backbones: "
                            f"protocol {grid.protocol!r} on {name} must have architecture: imagenet and the models be "
                            f"among {', '.join(IMAGENET_MODELS)}"
                        )
            for run in study.runs():
                other = owner.setdefault((evaluation.kind, run), (evaluation.recipe, study.path))
                if other[0] != evaluation.recipe:
                    raise ConfigError(
                        f"{study.path}: evaluate.{evaluation.kind} is {evaluation.recipe!r} for run {run.label()}, "
                        f"but {other[1]} "
                        f"evaluates it with {other[0]!r}; one run has one {evaluation.kind} result: use the same recipe"
                    )


def validate_studies(
    all_studies: dict[str, Study],
    protocols: dict[str, dict[str, Any]],
    published_dir: str | Path | None = None,
    evaluations: dict[str, dict[str, dict[str, Any]]] | None = None,
    build_cache: str | Path | None = None,
) -> dict[str, tuple[dict[str, Any], str]]:
    """Check every study against the registries, the protocols and the evaluation recipes; return the alias
    table. The methods' builds run last (:func:`augrepro.studies.builds.check_builds`, remembered in
    ``build_cache`` when given)."""
    aliases = alias_table(all_studies.values())
    builds: Builds = {}
    for study in all_studies.values():
        _check_methods(study)
        _check_published_files(study, published_dir)
        _check_claims_run(study, aliases)
        for grid in study.grids:
            _check_grid_names(study, grid, protocols)
            for key in grid.datasets:
                _check_grid_on(study, grid, key, protocols, aliases, builds)
    if evaluations is not None:
        validate_evaluations(all_studies, protocols, evaluations)
    elif any(s.evaluations for s in all_studies.values()):
        raise ConfigError("a study asks for evaluations (evaluate:) but no evaluation recipes were loaded")
    check_builds(builds, build_cache)
    return aliases


def _check_methods(study: Study) -> None:
    """The study's ``methods:``: each alias names a registered method; a registered name keeps its defaults."""
    where = study.path
    for name, entry in study.methods.items():
        method = entry.get("method", name)
        if method not in AUGMENTATIONS:
            raise ConfigError(
                f"{where}: methods.{name}: unknown method {method!r}; valid methods: {', '.join(AUGMENTATIONS.names())}"
            )
        if "method" not in entry and name in AUGMENTATIONS and entry:
            from augrepro.augment import method_parameters  # the method's class (torch): only for such an entry

            defaults = {f.name: f.default for f in method_parameters(name)}
            differ = {k: v for k, v in entry.items() if defaults.get(k, object()) != v}
            if differ:
                raise ConfigError(
                    f"{where}: methods.{name} gives the registered method {name!r} other parameters ({differ}); "
                    f"that would put a different method into every study's {name!r} folder: define an alias, "
                    f"e.g. methods: {{{name}_custom: {{method: {name}, ...}}}}, or set the method's default "
                    "in the protocol (protocols.yaml, methods:)"
                )


def _check_published_files(study: Study, published_dir: str | Path | None) -> None:
    """The study's published tables exist under ``published_dir`` and each of their cells has a margin."""
    for csv in study.published:
        if published_dir is not None and not (Path(published_dir) / csv).is_file():
            raise ConfigError(f"{study.path}: published file {csv!r} not found in {published_dir}")
    if published_dir is not None and study.published:
        check_margins(study, published_dir)


def _check_claims_run(study: Study, aliases: dict[str, tuple[dict[str, Any], str]]) -> None:
    """Every claim compares protocols and methods that the study runs."""
    where = study.path
    names = {a for g in study.grids for a in g.augmentations} | {
        method_of(aliases, a)[0] for g in study.grids for a in g.augmentations
    }
    for i, claim in enumerate(study.claims, start=1):
        if claim["kind"] == "equivalent" and not set(claim["protocols"]) <= set(study.protocols):
            raise ConfigError(
                f"{where}: claim {i} compares protocols {claim['protocols']}, which the study does not both run; "
                f"its protocols: {', '.join(study.protocols)}"
            )
        named = [claim.get("method"), claim.get("than"), *claim.get("among", []), *claim.get("methods", [])]
        unknown = [m for m in named if m is not None and m not in names]
        if unknown:
            raise ConfigError(
                f"{where}: claim {i} names {unknown[0]!r}, which the study does not run; its augmentations: "
                f"{', '.join(sorted(names))}"
            )


def _check_grid_names(study: Study, grid: Grid, protocols: dict[str, dict[str, Any]]) -> None:
    """A grid's protocol, datasets (classification ones) and models are known."""
    where = study.path
    try:
        resolve_protocol(protocols, grid.protocol)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    for key in grid.datasets:
        name, _ = parse_dataset_key(key)
        if name not in DATASETS:
            raise ConfigError(
                f"{where}: unknown dataset {key!r} in 'datasets'; valid datasets: {', '.join(sorted(DATASETS))} "
                "(append '+' for the protocol's traditional augmentation, e.g. cifar10+)"
            )
        if get_spec(name).kind == "detection":
            raise ConfigError(
                f"{where}: {name} is a detection dataset, not a classification grid's; a study fine-tunes "
                "detectors on it with evaluate: {detection: {recipe: ...}}"
            )
    for model in grid.models:
        if model not in MODELS and model not in IMAGENET_MODELS:
            valid = sorted(set(MODELS.names()) | set(IMAGENET_MODELS))
            raise ConfigError(f"{where}: unknown model {model!r} in 'models'; valid models: {', '.join(valid)}")


def _check_grid_on(
    study: Study,
    grid: Grid,
    key: str,
    protocols: dict[str, dict[str, Any]],
    aliases: dict[str, tuple[dict[str, Any], str]],
    builds: Builds,
) -> None:
    """The grid's protocol on one of its datasets (``key``): its pipeline, its replicas on the study's GPUs, and
    the grid's models and augmentations under it (the augmentations' builds added to ``builds``)."""
    where = study.path
    name, traditional = parse_dataset_key(key)
    spec = get_spec(name)
    values = protocol_values(protocols, grid.protocol, name)
    check_pipeline(values, spec, traditional, f"{where}: protocol {grid.protocol!r} on {key}")
    processes = max(1, study.resources["gpus"]) * study.resources["nodes"]
    try:
        replicas_per_process(Protocol.of_values(values), processes)
        batch_per_process(int(values["batch_size"]), processes)
    except ValueError as exc:
        raise ConfigError(
            f"{where}: protocol {grid.protocol!r} on {name} with resources of {processes} GPUs: {exc}"
        ) from None
    _check_models_on(where, grid, name, values, spec)
    _check_augmentations_on(where, grid, name, values, aliases, builds)


def _check_models_on(where: str, grid: Grid, name: str, values: dict[str, Any], spec) -> None:
    """The grid's models under the protocol ``values`` on dataset ``name``: their options, a version of the
    protocol's architecture and, for a pretrained start, its weights."""
    for model in grid.models:
        try:
            check_model_options(model, architecture(values, spec), values.get("model_options") or {})
        except ValueError as exc:
            raise ConfigError(f"{where}: protocol {grid.protocol!r} on {name}: {exc}") from None
    if architecture(values, spec) == "imagenet":
        bad = [m for m in grid.models if m not in IMAGENET_MODELS]
        if bad:
            raise ConfigError(
                f"{where}: model {bad[0]!r} has no ImageNet-style version (protocol {grid.protocol!r} on "
                f"{name}); valid models there: {', '.join(IMAGENET_MODELS)}"
            )
    else:
        bad = [m for m in grid.models if m not in MODELS]
        if bad:
            raise ConfigError(
                f"{where}: model {bad[0]!r} has no CIFAR-style version (protocol {grid.protocol!r} on "
                f"{name}); valid models there: {', '.join(MODELS.names())}"
            )
    if values.get("pretrained"):
        bad = [m for m in grid.models if m not in WEIGHTS[values["pretrained"]]]
        if bad:
            raise ConfigError(
                f"{where}: protocol {grid.protocol!r} starts from pretrained {values['pretrained']!r} "
                f"weights, which model {bad[0]!r} lacks; models with them: "
                f"{', '.join(WEIGHTS[values['pretrained']])}"
            )


def _check_augmentations_on(
    where: str,
    grid: Grid,
    name: str,
    values: dict[str, Any],
    aliases: dict[str, tuple[dict[str, Any], str]],
    builds: Builds,
) -> None:
    """The grid's augmentations (aliases resolved) are registered; each, with the protocol's parameters on dataset
    ``name``, is added to ``builds`` (built by :func:`augrepro.studies.builds.check_builds`)."""
    for aug in grid.augmentations:
        method, params = method_of(aliases, aug)
        if method not in AUGMENTATIONS:
            raise ConfigError(
                f"{where}: unknown augmentation {aug!r} in 'augmentations'; valid methods: "
                f"{', '.join(AUGMENTATIONS.names())} (or define an alias under 'methods' with "
                "'method: <one of these>')"
            )
        context = f"{where}: augmentation {aug!r} with protocol {grid.protocol!r} on {name}"
        add_build(builds, context, method, method_params(values, method, params), name)


def check_pipeline(protocol: dict[str, Any], spec, traditional: bool, where: str) -> None:
    """The protocol's pipeline exists for the dataset's kind, and training and evaluation see one image size. Checks
    the pipeline's spec (:mod:`augrepro.data.pipeline_spec`, which every backend executes), without torch."""
    spec_pipeline = protocol["pipeline"]
    if spec.kind == "files":
        if spec_pipeline.get("name") not in FILE_PIPELINES:
            raise ConfigError(
                f"{where}: pipeline {spec_pipeline.get('name')!r} runs on images in memory; {spec.name} is decoded "
                f"from files, whose pipeline is one of {', '.join(FILE_PIPELINES)}"
            )
        try:
            check_file_pipeline(spec_pipeline)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        return
    try:
        pipeline = parse_pixel_pipeline(spec_pipeline, spec.image_size) if spec_pipeline is not None else None
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    fixed = protocol.get("eval_transform")
    eval_size = fixed["crop"] if fixed else spec.image_size
    train_size = pipeline.size if traditional and pipeline is not None else eval_size
    if train_size != eval_size:
        raise ConfigError(
            f"{where}: training sees {train_size}-px images but evaluation {eval_size}-px ones; set the protocol's "
            f"eval_transform (e.g. {{resize: {round(train_size * 8 / 7)}, crop: {train_size}}})"
        )
