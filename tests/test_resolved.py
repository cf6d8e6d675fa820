"""The typed resolved run (augrepro.resolved): its params are the train rule's, exactly; its protocol is frozen, with
the schema's defaults; and the variant it says without torch is the one the built method records."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import pytest

from augrepro import schemas
from augrepro.augment import AUGMENTATIONS
from augrepro.augment.variants import declared_variant
from augrepro.resolved import PARAM_KEYS, Protocol, ResolvedRun
from augrepro.runs import RunKey
from augrepro.studies import resolve_protocol, select_from_config
from augrepro.studies.study import resolve

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    """The paper's selection (config/paper.yaml), ImageNet's folder and Stanford Cars' files pretended present."""
    folder = tmp_path_factory.mktemp("imagenet")
    config = schemas.read_yaml(ROOT / "config/paper.yaml")
    return select_from_config({**config, "data": {"imagenet_path": str(folder), "local_dir": str(folder)}}, ROOT)


def paper_runs(selection) -> list[RunKey]:
    """Every run the paper may train (adaptive studies' later seeds included)."""
    return list(dict.fromkeys(k for s in selection.studies for k in s.potential_runs()))


def test_every_paper_run_round_trips_through_its_params_byte_for_byte(paper):
    keys = paper_runs(paper)
    assert len(keys) > 1000 and not paper.skipped  # the whole paper, every study runnable
    for key in keys:
        params = paper.resolved(key)  # resolve_run's, as the workflow's params
        typed = ResolvedRun.from_params(params)
        assert json.dumps(typed.to_params()) == json.dumps(params), key.label()
        assert ResolvedRun.from_params(typed.to_params()) == typed
        assert typed == resolve(key, paper.protocols, paper.aliases)
        assert typed.key == key and paper.resolved_run(key) == typed


def test_the_params_hold_the_identity_the_method_parameters_and_the_protocol_as_resolved(paper):
    """Nothing added, nothing dropped, nothing reordered: the identity, then method_params, then the recipe, whose
    keys are the resolved protocol's (its base chain and per-dataset values) in their order, but its title and
    method defaults, and with the architecture the run's dataset implies."""
    for key in paper_runs(paper):
        params = paper.resolved(key)
        assert tuple(params) == PARAM_KEYS
        assert params["dataset_key"] == key.dataset_key and params["dataset"] == key.dataset
        protocol = resolve_protocol(paper.protocols, key.protocol, key.dataset)
        expected = [k for k in protocol if k not in ("title", "methods")]
        expected += [] if "architecture" in protocol else ["architecture"]
        assert list(params["recipe"]) == expected, key.label()
        assert all(params["recipe"][k] == protocol[k] for k in expected if k != "architecture")


def test_the_protocols_attributes_are_the_schemas_keys_with_its_defaults(paper):
    values = schemas.load_schema("protocol")["$defs"]["values"]["properties"]
    assert set(Protocol.keys()) == (set(values) - {"title", "methods"}) | {"name"}
    defaults = schemas.definition_defaults("protocol", "values")
    fields = {f.name: f for f in dataclasses.fields(Protocol)}
    for key in Protocol.keys():
        field = fields[key]
        default = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
        assert default == defaults.get(key, dataclasses.MISSING if key != "lr" else None), key
    # a recipe that leaves a key to its default reads the schema's, and does not gain the key
    params = next(p for p in map(paper.resolved, paper.runs) if "batchnorm" not in p["recipe"])
    protocol = ResolvedRun.from_params(params).protocol
    assert protocol.batchnorm == defaults["batchnorm"] and "batchnorm" not in protocol.to_params()


def test_the_protocol_and_the_run_are_frozen_and_share_nothing_with_their_params(paper):
    params = copy.deepcopy(paper.resolved(paper.runs[0]))
    before = json.dumps(params)
    run = ResolvedRun.from_params(params)
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.protocol.epochs = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.method = "mixup"  # type: ignore[misc]
    run.protocol.to_params()["pipeline"]["name"] = "changed"
    run.to_params()["method_params"]["added"] = 1
    params["recipe"]["pipeline"]["name"] = "changed too"
    assert json.dumps(run.to_params()) == before


def test_a_protocol_built_in_code_states_every_value_and_reads_back_equal(paper):
    built = dataclasses.replace(ResolvedRun.from_params(paper.resolved(paper.runs[0])).protocol, given=None)
    assert list(built.to_params()) == list(Protocol.keys())
    assert Protocol.from_params(built.to_params()).to_params() == built.to_params()


def test_params_that_are_not_a_resolved_run_are_refused_by_name(paper):
    params = paper.resolved(paper.runs[0])
    with pytest.raises(ValueError, match="lacks recipe"):
        ResolvedRun.from_params({k: v for k, v in params.items() if k != "recipe"})
    with pytest.raises(ValueError, match="unknown key.*variant"):
        ResolvedRun.from_params({**params, "variant": "official"})
    with pytest.raises(ValueError, match="recipe lacks epochs"):
        ResolvedRun.from_params({**params, "recipe": {k: v for k, v in params["recipe"].items() if k != "epochs"}})
    with pytest.raises(ValueError, match="its traditional is"):
        ResolvedRun.from_params({**params, "traditional": not params["traditional"]})
    # a key of another augrepro version in a checkpoint's recipe is kept, and written back in its place
    recipe = {"old_key": 1, **params["recipe"]}
    assert ResolvedRun.from_params({**params, "recipe": recipe}).to_params()["recipe"] == recipe


# --- the variant: said without torch (the grid), recorded from the built method (meta.json, the evaluations) ---

VARIANT_PARAMS = {
    "saliencymix": [{}, {"variant": "paper"}, {"variant": "paper", "mode": "per_sample"}],
    "hybridmix_v1": [{}, {"mode": "per_batch"}],
    "hybridmix_v2": [{}, {"mode": "per_batch", "saliencymix": "official"}, {"mode": "per_batch"}],
    "hybridmix_v3": [{}, {"mode": "per_batch"}],
}


@pytest.mark.parametrize(
    "method,params",
    [(m, p) for m, ps in VARIANT_PARAMS.items() for p in ps]
    + [(m, {}) for m in AUGMENTATIONS.names() if m not in VARIANT_PARAMS],  # every other method, a new one too
)
def test_the_declared_variant_is_the_built_methods(method, params):
    from augrepro.augment.base import run_variant
    from augrepro.data.datasets import get_spec

    spec = get_spec("cifar10")
    run = ResolvedRun.from_params(
        {
            "protocol": "p",
            "dataset": "cifar10",
            "dataset_key": "cifar10",
            "traditional": False,
            "model": "resnet18",
            "augmentation": method,
            "method": method,
            "seed": 0,
            "method_params": params,
            "recipe": dict.fromkeys(("name", *schemas.load_schema("protocol")["$defs"]["resolved"]["required"])),
        }
    )
    assert run.variant == declared_variant(method, params) == run_variant(run, spec)
    assert (run.variant is None) == (method not in VARIANT_PARAMS)


def test_the_grids_variant_is_the_one_meta_json_and_the_evaluations_record(paper):
    """grid_entry (the partial report's scan, no torch) gives each SaliencyMix (official and paper) and HybridMix
    run of the paper the variant run_variant gives from the built method, which meta.json, FGSM and detection
    record."""
    from augrepro.augment.base import run_variant
    from augrepro.data.datasets import get_spec

    seen = set()
    for key in paper.runs:
        run = paper.resolved_run(key)
        if run.method not in VARIANT_PARAMS or (run.method, run.variant) in seen:
            continue
        seen.add((run.method, run.variant))
        assert paper.grid_entry(key)["variant"] == run_variant(run, get_spec(key.dataset)) is not None
    methods = {m for m, _ in seen}
    variants = {v for _, v in seen}
    assert methods >= {"saliencymix", "hybridmix_v1", "hybridmix_v2", "hybridmix_v3"}
    assert {"official", "paper", "per_sample"} <= variants
