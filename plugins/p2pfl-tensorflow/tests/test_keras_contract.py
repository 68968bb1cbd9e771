"""The learner contract of p2pfl-core, run against the tensorflow learner."""

from __future__ import annotations

from p2pfl_core.testing import LearnerContract

from p2pfl_tensorflow.learner import KerasLearner


class TestKerasMLP(LearnerContract):
    """The contract on the ``mlp`` builder, with algorithms and federations."""

    learner_class = KerasLearner
    settings = {"model": "mlp"}
    layer_shapes = {
        "hidden0/kernel": (64, 64),
        "hidden0/bias": (64,),
        "output/kernel": (64, 10),
        "output/bias": (10,),
    }
    user_builder = "keras_user_models:build_counting"
    supports_algorithms = True
    linear_settings = {"model": "mlp", "model_args": {"hidden": []}}
    sgd_momentum = True
    federation_settings = {"momentum": 0.9}
    # Measured 0.861 (FedAvg), 0.869 (FedProx) and 0.903 (SCAFFOLD) with
    # tensorflow-cpu 2.21.0 on 2 CPU cores.
    federation_min_accuracy = 0.8


class TestKerasCNN(LearnerContract):
    """The contract on the ``cnn`` builder with BatchNorm statistics."""

    learner_class = KerasLearner
    settings = {"model": "cnn", "model_args": {"batch_norm": True}}
    supports_algorithms = True
