"""Tests of the server optimisers: FedAvgM, FedAdam, FedYogi, FedAdagrad."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from p2pfl_core.aggregators.fedadagrad import FedAdagrad
from p2pfl_core.aggregators.fedadam import FedAdam
from p2pfl_core.aggregators.fedavgm import FedAvgM
from p2pfl_core.aggregators.fedyogi import FedYogi
from p2pfl_core.aggregators.parameters import (
    InvalidParameterError,
    UnknownParameterError,
)
from p2pfl_core.aggregators.server_optimizer import ServerOptimizer
from p2pfl_core.errors import ModelMismatchError
from p2pfl_core.weights import ModelWeights


def run_round(
    aggregator: ServerOptimizer,
    layers: list[dict[str, object]],
    samples: list[int],
    previous: dict[str, object] | None,
) -> ModelWeights:
    """Aggregate one round of models from nodes "1", "2", ... given ``previous``."""
    aggregator.clear()
    for index, (model_layers, count) in enumerate(zip(layers, samples, strict=True)):
        aggregator.add_model(
            ModelWeights(
                {k: np.asarray(v) for k, v in model_layers.items()},
                num_samples=count,
                contributors=(str(index + 1),),
            )
        )
    start = (
        None
        if previous is None
        else ModelWeights({k: np.asarray(v) for k, v in previous.items()})
    )
    return aggregator.aggregate(start)


def test_fedavgm_momentum_not_damped() -> None:
    """With mean = x + 1 each round, lr 1, momentum 0.9: x1 = 1.0 and x2 = 2.9."""
    aggregator = FedAvgM(learning_rate=1.0, momentum=0.9)
    x1 = run_round(aggregator, [{"w": 1.0}], [1], {"w": 0.0})
    assert float(x1["w"]) == pytest.approx(1.0, abs=1e-12)
    x2 = run_round(aggregator, [{"w": float(x1["w"]) + 1.0}], [1], {"w": x1["w"]})
    assert float(x2["w"]) == pytest.approx(2.9, abs=1e-12)


R09_FIRST = [{"a": [[1, 2, 3], [4, 5, 6]], "b": [7, 8, 9, 10], "s": 1.0}]
R09_SECOND = [{"a": [[29, 23, 19], [17, 13, 11]], "b": [7, 5, 3, 2], "s": 3.0}]
R09_LAYERS = [
    {k: np.asarray(v, dtype=np.float64) for k, v in m.items()}
    for m in R09_FIRST + R09_SECOND
]
R09_ZERO = {"a": np.zeros((2, 3)), "b": np.zeros(4), "s": np.zeros(())}
R09_A = [[19.6667, 16.0, 13.6667], [12.6667, 10.3333, 9.3333]]
R09_B = [7.0, 6.0, 5.0, 4.6667]


def test_fedavgm_near_one_lr_no_momentum() -> None:
    """lr 1+1e-9 without momentum gives the weighted mean of counts 1 and 2."""
    aggregator = FedAvgM(learning_rate=1 + 1e-9, momentum=0.0)
    result = run_round(aggregator, R09_LAYERS, [1, 2], R09_ZERO)
    np.testing.assert_array_almost_equal(result["a"], R09_A, decimal=4)
    np.testing.assert_array_almost_equal(result["b"], R09_B, decimal=4)
    assert result["s"].shape == ()
    assert float(result["s"]) == pytest.approx(2.3333333, abs=1e-7)


def test_fedavgm_tiny_momentum_two_rounds() -> None:
    """Momentum 1e-9 over two rounds gives the same values to 5 decimals."""
    aggregator = FedAvgM(learning_rate=1 + 1e-9, momentum=1e-9)
    first = run_round(aggregator, R09_LAYERS, [1, 2], R09_ZERO)
    second = run_round(aggregator, R09_LAYERS, [1, 2], first.layers)
    np.testing.assert_array_almost_equal(second["a"], first["a"], decimal=5)
    np.testing.assert_array_almost_equal(second["b"], R09_B, decimal=4)


def test_fedadagrad_first_step() -> None:
    """eta 0.1, tau 0.5, beta_1 0 from 0.1 with clients 0.2 and 1.0 gives 0.15."""
    aggregator = FedAdagrad(eta=0.1, tau=0.5)
    result = run_round(
        aggregator, [{"w": [0.2] * 4}, {"w": [1.0] * 4}], [5, 5], {"w": [0.1] * 4}
    )
    np.testing.assert_allclose(result["w"], [0.15] * 4, rtol=0, atol=1e-12)


def test_fedadam_two_rounds() -> None:
    """FedAdam from 0.1 towards a mean of 0.6: 0.109090909, then 0.125601209."""
    aggregator = FedAdam(eta=0.1, beta_1=0.9, beta_2=0.99, tau=0.5)
    clients = [{"w": 0.2}, {"w": 1.0}]
    first = run_round(aggregator, clients, [5, 5], {"w": 0.1})
    assert float(first["w"]) == pytest.approx(0.1090909091, abs=1e-10)
    second = run_round(aggregator, clients, [5, 5], first.layers)
    assert float(second["w"]) == pytest.approx(0.1256012091, abs=1e-10)


def test_fedyogi_two_rounds() -> None:
    """FedYogi matches Adam on step one (0.109090909), differs on two (0.125596036)."""
    aggregator = FedYogi(eta=0.1, beta_1=0.9, beta_2=0.99, tau=0.5)
    clients = [{"w": 0.2}, {"w": 1.0}]
    first = run_round(aggregator, clients, [5, 5], {"w": 0.1})
    assert float(first["w"]) == pytest.approx(0.1090909091, abs=1e-10)
    second = run_round(aggregator, clients, [5, 5], first.layers)
    assert float(second["w"]) == pytest.approx(0.1255960359, abs=1e-10)


def test_fedadam_statistics_plainly_averaged() -> None:
    """running_var 0.01 -> every node 0.001 stays 0.001, never -0.09."""
    aggregator = FedAdam(eta=0.1, beta_1=0.9, beta_2=0.99, tau=1e-9)
    layers = {
        "bn.running_var": 0.001,
        "bn.weight": 0.001,
        "bn.num_batches_tracked": np.int64(7),
    }
    start = {
        "bn.running_var": 0.01,
        "bn.weight": 0.01,
        "bn.num_batches_tracked": np.int64(5),
    }
    result = run_round(aggregator, [layers, layers], [3, 4], start)
    assert float(result["bn.running_var"]) == 0.001
    assert int(result["bn.num_batches_tracked"]) == 7
    assert float(result["bn.weight"]) == pytest.approx(-0.0899998889, abs=1e-9)


def test_user_listed_statistics_buffer() -> None:
    """A layer listed in statistics_buffers bypasses the optimiser."""
    aggregator = FedAdam(eta=0.1, tau=1e-9, statistics_buffers=["ema_scale"])
    result = run_round(
        aggregator, [{"block.ema_scale": 0.001}], [1], {"block.ema_scale": 0.01}
    )
    assert float(result["block.ema_scale"]) == 0.001


def test_keeps_float32_dtype() -> None:
    """The stepped layer keeps the float32 dtype of the inputs."""
    aggregator = FedAvgM()
    layers = {"w": np.array([1.0, 2.0], np.float32)}
    result = run_round(aggregator, [layers], [1], {"w": np.zeros(2, np.float32)})
    assert result["w"].dtype == np.float32


def test_without_previous_returns_mean(caplog: pytest.LogCaptureFixture) -> None:
    """Without a round-start model the result is the weighted mean, with one warning."""
    aggregator = FedAdam()
    with caplog.at_level(logging.WARNING):
        first = run_round(aggregator, [{"w": 1.0}, {"w": 4.0}], [2, 1], None)
        run_round(aggregator, [{"w": 1.0}], [1], None)
    assert float(first["w"]) == 2.0
    assert caplog.text.count("no round-start model") == 1


def test_previous_mismatch_raises() -> None:
    """A round-start model with other layers raises ModelMismatchError."""
    with pytest.raises(ModelMismatchError, match="round-start model"):
        run_round(FedAvgM(), [{"w": [1.0, 2.0]}], [1], {"w": [1.0]})


def test_state_reset_when_layers_change(caplog: pytest.LogCaptureFixture) -> None:
    """A new model shape resets the velocity, with a warning, instead of failing."""
    aggregator = FedAvgM(momentum=0.5)
    run_round(aggregator, [{"w": [1.0]}], [1], {"w": [0.0]})
    with caplog.at_level(logging.WARNING):
        result = run_round(aggregator, [{"w": [1.0, 1.0]}], [1], {"w": [0.0, 0.0]})
    assert result["w"].tolist() == [1.0, 1.0]
    assert "state reset" in caplog.text


def test_non_finite_model_excluded_before_step() -> None:
    """A NaN model is left out and the step uses the others only."""
    aggregator = FedAvgM(learning_rate=1.0, momentum=0.0)
    result = run_round(aggregator, [{"w": 2.0}, {"w": np.nan}], [1, 1], {"w": 0.0})
    assert float(result["w"]) == 2.0
    assert result.contributors == ("1",)


@pytest.mark.parametrize(
    ("factory", "params", "name"),
    [
        (FedAvgM, {"learning_rate": 0.0}, "learning_rate"),
        (FedAvgM, {"momentum": 1.0}, "momentum"),
        (FedAdam, {"eta": -1.0}, "eta"),
        (FedAdam, {"beta_2": 1.5}, "beta_2"),
        (FedYogi, {"tau": 0.0}, "tau"),
        (FedAdagrad, {"beta_1": 1.0}, "beta_1"),
        (FedAdam, {"statistics_buffers": [1, 2]}, "statistics_buffers"),
    ],
)
def test_invalid_parameters_rejected(
    factory: type, params: dict[str, object], name: str
) -> None:
    """Out-of-range optimiser parameters raise InvalidParameterError naming them."""
    with pytest.raises(InvalidParameterError, match=f"'{name}'"):
        factory(**params)


def test_fedadagrad_rejects_beta_2() -> None:
    """FedAdagrad has no beta_2, so passing one is an unknown parameter."""
    with pytest.raises(
        UnknownParameterError, match="beta_1, eta, statistics_buffers, tau"
    ):
        FedAdagrad(beta_2=0.9)


def test_flax_batch_stats_plainly_averaged() -> None:
    """Flax batch_stats/ layers bypass the optimiser like torch running_var."""
    aggregator = FedAdam(eta=0.1, tau=1e-9)
    result = run_round(
        aggregator,
        [{"batch_stats/norm0/var": 0.001}],
        [1],
        {"batch_stats/norm0/var": 0.01},
    )
    assert float(result["batch_stats/norm0/var"]) == 0.001
