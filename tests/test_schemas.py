"""The input files' JSON schemas (workflow/schemas/): every shipped file validates, every key is described, and a
bad file is refused naming the file, the key path and the value."""

import dataclasses

import pytest
import yaml
from conftest import ROOT

from augrepro import schemas
from augrepro.errors import ConfigError
from augrepro.results.claims import KINDS as CLAIM_KINDS
from augrepro.results.metrics import METRICS
from augrepro.results.sequential import DEFAULT_BOUNDARY, DEFAULT_FUTILITY
from augrepro.runs import CHECKPOINTS
from augrepro.studies.evaluations import DETECTION_DEFAULTS, FGSM_DEFAULTS, load_evaluations
from augrepro.studies.protocols import BATCHNORM_DEFAULT, LR_DECAY_DELAY_DEFAULT, NUMERICS, load_protocols
from augrepro.studies.study import EVALUATION_RESOURCES, RESOURCE_DEFAULTS, load_studies, parse_study

KINDS = ("study", "protocol", "evaluations")
SHIPPED = {
    "study": sorted((ROOT / "config/studies").glob("*.yaml")) + sorted((ROOT / ".test/config/studies").glob("*.yaml")),
    "protocol": [ROOT / "config/protocols.yaml", ROOT / ".test/config/protocols.yaml"],
    "evaluations": sorted(
        p for p in (ROOT / "config/evaluations.yaml", ROOT / ".test/config/evaluations.yaml") if p.exists()
    ),
}


def _properties(node, at="", root=None):
    """Every (key path, schema) of a schema's keys, through $defs, oneOf branches and items."""
    root = root or node
    if not isinstance(node, dict):
        return
    for key, sub in (node.get("properties") or {}).items():
        yield f"{at}.{key}" if at else key, sub
        yield from _properties(sub, f"{at}.{key}" if at else key, root)
    for branch in node.get("oneOf", []) + node.get("anyOf", []):
        yield from _properties(branch, at, root)
    for key in ("items", "additionalProperties"):
        yield from _properties(node.get(key), f"{at}[]", root)
    if node is root:
        for name, sub in (node.get("$defs") or {}).items():
            yield from _properties(sub, f"$defs.{name}", root)


def _keys_and_required(kind):
    """The keys of a file kind's entries and those of them that must be given (and so have no default)."""
    schema = schemas.load_schema(kind)
    if kind == "protocol":  # the values of a protocol, required once resolved (lr: or lr_groups)
        return schema["$defs"]["values"]["properties"], {*schema["$defs"]["resolved"]["required"], "lr"}
    if kind == "evaluations":  # the values of a recipe of either kind
        recipes = [schema["$defs"][k] for k in ("fgsm", "detection")]
        return {k: v for r in recipes for k, v in r["properties"].items()}, {k for r in recipes for k in r["required"]}
    return schema["properties"], set(schema.get("required", []))


@pytest.mark.parametrize("kind", KINDS)
def test_every_key_of_a_schema_has_a_description_and_every_optional_key_a_default(kind):
    schema = schemas.load_schema(kind)
    undescribed = [path for path, sub in _properties(schema) if not schemas._resolve(schema, sub).get("description")]
    assert not undescribed, undescribed
    keys, required = _keys_and_required(kind)
    no_default = [k for k in set(keys) - required if "default" not in keys[k]]
    assert set(keys) - required and not no_default, no_default


@pytest.mark.parametrize("kind, path", [(k, p) for k, paths in SHIPPED.items() for p in paths], ids=lambda v: str(v))
def test_every_shipped_file_validates(kind, path):
    schemas.validate(yaml.safe_load(path.read_text()), kind, str(path))


def test_the_study_defaults_live_in_the_schema_and_agree_with_the_library():
    schema = schemas.load_schema("study")
    assert schema["$defs"]["claim"]["properties"]["metric"]["enum"] == list(METRICS)
    assert schema["$defs"]["claim"]["properties"]["kind"]["enum"] == list(CLAIM_KINDS)
    assert RESOURCE_DEFAULTS == {"gpus": 1, "threads": 4, "mem_mb": 16000, "runtime_min": 480, "nodes": 1}
    evaluate = schema["properties"]["evaluate"]["properties"]
    assert EVALUATION_RESOURCES["detection"] == evaluate["detection"]["oneOf"][1]["properties"]["resources"]["default"]
    adaptive = schema["properties"]["seeds"]["oneOf"][1]["properties"]
    assert (adaptive["boundary"]["default"], adaptive["futility"]["default"]) == (DEFAULT_BOUNDARY, DEFAULT_FUTILITY)


TINY = {
    "title": "t",
    "source": "s",
    "protocol": "demo",
    "datasets": ["cifar10"],
    "models": ["resnet18"],
    "augmentations": ["baseline"],
    "seeds": [0, 1],
}


@pytest.mark.parametrize(
    "change, expected",
    [
        # an unknown key: named, with the valid ones
        ({"epochs": 10}, "x.yaml: unknown key(s) epochs; valid keys: title, source, published, protocol"),
        ({"resources": {"gpu": 1}}, "x.yaml: resources: unknown key(s) gpu; valid keys: gpus, threads"),
        (
            {"grids": [{"datasets": ["cifar10"], "models": ["resnet18"], "augmentations": ["cutout"], "epochs": 3}]},
            "x.yaml: grids[0]: unknown key(s) epochs",
        ),
        # a wrong type: the key path down to the item
        ({"seeds": [0, "one"]}, "x.yaml: seeds[1]: got 'one'; expected an integer >= 0"),
        (
            {
                "grids": [
                    {"datasets": ["cifar10"], "models": ["resnet18"], "augmentations": ["cutout"], "seeds": ["one"]}
                ]
            },
            "x.yaml: grids[0].seeds[0]: got 'one'; expected an integer >= 0",
        ),
        ({"methods": {"cm": 3}}, "x.yaml: methods.cm: got 3; expected a mapping or null"),
        # out of range, or not one of the values
        ({"resources": {"gpus": -1}}, "x.yaml: resources.gpus: got -1; expected an integer >= 0"),
        ({"seeds": [-1]}, "x.yaml: seeds[0]: got -1; expected an integer >= 0"),
        ({"seeds": {"start": 1, "max": 9}}, "x.yaml: seeds.start: got 1; expected an integer >= 2"),
        ({"layout": "rows"}, "x.yaml: layout: 'rows' is not valid; valid: datasets, models"),
        ({"models": ["resnet18", "resnet18"]}, "x.yaml: models: ['resnet18', 'resnet18'] has non-unique elements"),
        # adaptive seeds: the mapping's own shape, with an example as the fix
        ({"seeds": {"start": 3, "maximum": 9}}, "x.yaml: seeds: unknown key(s) maximum; valid keys: start, step, max"),
        ({"seeds": {"start": 3, "maximum": 9}}, "e.g. seeds: {start: 3, step: 2, max: 9}"),
        ({"evaluate": {"fgsm": {"recipe": "x", "seeds": [0]}}}, "x.yaml: evaluate.fgsm: unknown key(s) seeds"),
        ({"title": None}, "x.yaml: title: got None; expected a string"),
        # a claim: its keys, and those its kind needs
        (
            {"claims": [{"claim": "c", "source": "s", "kind": "lower", "method": "a"}]},
            "x.yaml: claims[0]: 'than' is required: lower: the method it beats",
        ),
        (
            {"claims": [{"claim": "c", "source": "s", "kind": "ranking", "methods": ["a"], "metric": "top2"}]},
            "x.yaml: claims[0].metric: 'top2' is not valid; valid: top1_error",
        ),
    ],
)
def test_a_bad_study_is_refused_naming_the_file_the_key_and_the_value(change, expected):
    with pytest.raises(ConfigError) as err:
        parse_study("x", {**TINY, **change}, "config/studies/x.yaml")
    assert f"config/studies/{expected}" in str(err.value) or expected in str(err.value)
    assert str(err.value).startswith("config/studies/x.yaml")


@pytest.mark.parametrize(
    "entry, expected",
    [
        ({"base": "demo", "epoch": 3}, "p.yaml: a: unknown key(s) epoch; valid keys: title, epochs"),
        (
            {"base": "demo", "per_dataset": {"cifar10": {"gama": 0.1}}},
            "p.yaml: a.per_dataset.cifar10: unknown key(s) gama",
        ),
        ({"base": "demo", "nesterov": "yes"}, "p.yaml: a.nesterov: got 'yes'; expected true or false"),
        ({"base": "demo", "milestones": [1, "x"]}, "p.yaml: a.milestones[1]: got 'x'; expected an integer >= 1"),
        ({"base": "demo", "momentum": 1.5}, "p.yaml: a.momentum: got 1.5; expected a number in [0, 1)"),
        ({"base": "demo", "epochs": 0}, "p.yaml: a.epochs: got 0; expected an integer >= 1"),
        (
            {"base": "demo", "batchnorm": "frozen"},
            "p.yaml: a.batchnorm: 'frozen' is not valid; valid: per_replica, sync",
        ),
        ({"base": "demo", "lr_schedule": "multistep", "milestones": None}, "milestones: got None; expected a list"),
        ({"epochs": 3}, "p.yaml: protocol 'a' lacks batch_size, lr, momentum"),
    ],
)
def test_a_bad_protocol_is_refused_naming_the_file_the_key_and_the_value(tmp_path, entry, expected):
    demo = yaml.safe_load((ROOT / "config/protocols.yaml").read_text())["demo"]
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({"demo": demo, "a": entry}))
    with pytest.raises(ConfigError) as err:
        load_protocols(tmp_path / "p.yaml")
    assert expected in str(err.value)


def test_the_protocol_defaults_live_in_the_schema():
    from augrepro.resolved import Protocol

    values = schemas.load_schema("protocol")["$defs"]["values"]["properties"]
    assert BATCHNORM_DEFAULT == values["batchnorm"]["default"] == "per_replica"
    fields = {f.name: f.default for f in dataclasses.fields(Protocol)}
    assert fields["batchnorm"] == BATCHNORM_DEFAULT and fields["lr_decay_delay"] == LR_DECAY_DELAY_DEFAULT
    assert LR_DECAY_DELAY_DEFAULT == values["lr_decay_delay"]["default"] == 0


@pytest.mark.parametrize(
    "recipes, expected",
    [
        ({"pgd": {}}, "e.yaml: unknown key(s) pgd; valid keys: fgsm, detection"),
        (
            {"fgsm": {"x": {"checkpoint": "best", "steps": 3}}},
            "e.yaml: fgsm.x: unknown key(s) steps; valid keys: title",
        ),
        (
            {"fgsm": {"x": {"checkpoint": "best", "clip": "yes"}}},
            "e.yaml: fgsm.x.clip: got 'yes'; expected true or false",
        ),
        (
            {"fgsm": {"x": {"checkpoint": "best", "epsilon": 8}}},
            "e.yaml: fgsm.x.epsilon: got 8; expected a number in [0, 1]",
        ),
        ({"fgsm": {"x": {"checkpoint": "last"}}}, "e.yaml: fgsm.x.checkpoint: 'last' is not valid; valid: final, best"),
        (
            {"detection": {"d": {"checkpoint": "best"}}},
            "e.yaml: detection.d: 'batch_size' is required: Images per iteration",
        ),
    ],
)
def test_a_bad_recipe_is_refused_naming_the_file_the_key_and_the_value(tmp_path, recipes, expected):
    (tmp_path / "e.yaml").write_text(yaml.safe_dump(recipes))
    with pytest.raises(ConfigError) as err:
        load_evaluations(tmp_path / "e.yaml")
    assert expected in str(err.value)


def test_the_recipes_defaults_and_values_agree_with_the_library():
    evaluations = schemas.load_schema("evaluations")["$defs"]
    assert evaluations["checkpoint"]["enum"] == list(CHECKPOINTS)
    assert evaluations["detection"]["properties"]["numerics"]["enum"] == list(NUMERICS)
    assert DETECTION_DEFAULTS["roi_pool"] == "align_v2" and FGSM_DEFAULTS["epsilon"] == pytest.approx(8 / 255)


def test_a_required_key_is_refused_with_its_description():
    with pytest.raises(ConfigError, match="x.yaml: 'source' is required: The source document"):
        parse_study("x", {k: v for k, v in TINY.items() if k != "source"}, "x.yaml")


@pytest.mark.parametrize("loader", [load_evaluations, load_protocols, load_studies])
def test_a_file_that_is_not_yaml_is_refused_naming_it(tmp_path, loader):
    """The study, protocols and recipe loaders read through one reader: a file that does not parse is refused with
    its path and the parser's message, before anything is checked."""
    path = tmp_path / "bad.yaml"
    path.write_text("a: [1, 2\nb: 3\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML \("):
        loader(tmp_path if loader is load_studies else path)
