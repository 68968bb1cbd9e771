"""p2pfl-core's learner contract, run against the torch learner."""

from __future__ import annotations

from p2pfl_core.testing import LearnerContract

from p2pfl_torch.learner import TorchLearner


class TestTorchMlp(LearnerContract):
    """The contract on the default MLP, with algorithms and federations."""

    learner_class = TorchLearner
    settings = {"model": "mlp"}
    layer_shapes = {
        "hidden0.weight": (64, 64),
        "hidden0.bias": (64,),
        "output.weight": (10, 64),
        "output.bias": (10,),
    }
    user_builder = "torch_user_models:build_tanh"
    supports_algorithms = True
    linear_settings = {"model": "mlp", "model_args": {"hidden": []}}
    sgd_momentum = True
    federation_settings = {"momentum": 0.9}
    # Measured 0.863 (FedAvg), 0.863 (FedProx) and 0.849 (SCAFFOLD) with torch
    # 2.13.0 CPU.
    federation_min_accuracy = 0.8


class TestTorchCnnBatchNorm(LearnerContract):
    """The contract on a CNN whose BatchNorm buffers include an int64 counter."""

    learner_class = TorchLearner
    settings = {"model": "cnn", "model_args": {"batch_norm": True}}
    supports_algorithms = True
