"""Experiments whose train set is too small for the rule fail before running."""

from __future__ import annotations

import p2pfl_krum.plugin
import pytest

from p2pfl_core.config import check_components, parse_experiment
from p2pfl_core.errors import ConfigError
from p2pfl_core.manager import PluginManager


@pytest.mark.parametrize(
    ("aggregator", "needed"),
    [({"name": "krum", "f": 4}, 11), ({"name": "bulyan", "f": 3}, 15)],
)
def test_too_few_models_fail_at_load(
    aggregator: dict[str, object], needed: int
) -> None:
    """krum f=4 needs 11 models and bulyan f=3 needs 15; 8 nodes are refused."""
    manager = PluginManager(autoload=False)
    manager.register(p2pfl_krum.plugin, "p2pfl-krum")
    experiment = parse_experiment({"nodes": 8, "rounds": 1, "aggregator": aggregator})
    with pytest.raises(ConfigError) as error:
        check_components(experiment, manager)
    assert f"needs at least {needed} models per round" in str(error.value)
    assert "the train set has 8" in str(error.value)


def test_enough_models_pass() -> None:
    """krum f=2 with 8 nodes (needs 7) is accepted."""
    manager = PluginManager(autoload=False)
    manager.register(p2pfl_krum.plugin, "p2pfl-krum")
    experiment = parse_experiment(
        {"nodes": 8, "rounds": 1, "aggregator": {"name": "krum", "f": 2}}
    )
    check_components(experiment, manager)
