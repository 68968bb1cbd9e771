"""The learner contract of p2pfl-core, run against the flax learner."""

from __future__ import annotations

from p2pfl_core.testing import LearnerContract

from p2pfl_flax.learner import FlaxLearner


class TestFlaxMLP(LearnerContract):
    """The contract on the ``mlp`` builder, with algorithms and federations."""

    learner_class = FlaxLearner
    settings = {"model": "mlp"}
    layer_shapes = {
        "params/hidden0/kernel": (64, 64),
        "params/hidden0/bias": (64,),
        "params/output/kernel": (64, 10),
        "params/output/bias": (10,),
    }
    user_builder = "flax_user_models:build_counting"
    supports_algorithms = True
    linear_settings = {"model": "mlp", "model_args": {"hidden": []}}
    sgd_momentum = True
    federation_settings = {"momentum": 0.9}
    # Measured 0.889 (FedAvg), 0.882 (FedProx) and 0.910 (SCAFFOLD) with jax
    # 0.10.2, flax 0.12.8 and optax 0.2.8 on 2 CPU cores.
    federation_min_accuracy = 0.8


class TestFlaxCNN(LearnerContract):
    """The contract on the ``cnn`` builder with BatchNorm statistics."""

    learner_class = FlaxLearner
    settings = {"model": "cnn", "model_args": {"batch_norm": True}}
    supports_algorithms = True
