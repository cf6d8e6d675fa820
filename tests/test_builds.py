"""The methods' builds that validation checks, remembered by content (augrepro.studies.builds)."""

from __future__ import annotations

import pytest

from augrepro.errors import ConfigError
from augrepro.studies import builds as builds_module
from augrepro.studies.builds import add_build, check_builds


def _builds(prob: float) -> dict:
    out: dict = {}
    add_build(out, "config/studies/x.yaml: augmentation 'cutmix'", "cutmix", {"prob": prob, "beta": 1.0}, "cifar10")
    add_build(out, "config/studies/x.yaml: augmentation 'saliencymix'", "saliencymix", {}, "cifar10")
    return out


def test_passed_builds_are_remembered_by_content_and_rechecked_when_it_changes(tmp_path, monkeypatch):
    assert check_builds(_builds(0.5), tmp_path) is True  # built, and a marker left
    assert len(list(tmp_path.glob("builds-*.ok"))) == 1
    assert check_builds(_builds(0.5), tmp_path) is False  # the same content: not built again
    assert check_builds(_builds(0.25), tmp_path) is True  # another parameter: built
    monkeypatch.setattr(builds_module, "library_fingerprint", lambda: "edited library")
    assert check_builds(_builds(0.5), tmp_path) is True  # the same content, other code: built
    assert check_builds(_builds(0.5), None) is True  # no cache: always built


def test_a_bad_parameter_fails_every_time_naming_where_and_the_key(tmp_path):
    for _ in range(2):
        with pytest.raises(ConfigError, match=r"x.yaml: augmentation 'cutmix': cutmix.prob = 1.5 is out of range"):
            check_builds(_builds(1.5), tmp_path)
    assert not list(tmp_path.glob("builds-*.ok"))


def test_where_a_build_is_asked_for_does_not_change_what_is_remembered(tmp_path):
    first, second = {}, {}
    add_build(first, "a.yaml", "cutmix", {"prob": 0.5}, "cifar10")
    add_build(second, "b.yaml", "cutmix", {"prob": 0.5}, "cifar10")
    add_build(second, "c.yaml", "cutmix", {"prob": 0.5}, "cifar10")  # asked twice: built once, the first place kept
    assert list(second.values()) == ["b.yaml"]
    assert check_builds(first, tmp_path) is True and check_builds(second, tmp_path) is False
