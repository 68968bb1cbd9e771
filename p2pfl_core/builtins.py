"""Core's own components, registered through the same hooks as any plugin."""

from __future__ import annotations

from p2pfl_core.plugin import (
    AggregatorSpec,
    DatasetSpec,
    LearnerSpec,
    PartitionerSpec,
    ProtocolSpec,
    StageSpec,
    TopologySpec,
    hookimpl,
)


@hookimpl
def p2pfl_register_protocols() -> list[ProtocolSpec]:
    """Register the in-process ``memory`` transport."""
    return [
        ProtocolSpec(
            "memory",
            "p2pfl_core.communication.memory:MemoryProtocol",
            "nodes of one process exchanging encoded bytes",
        )
    ]


@hookimpl
def p2pfl_register_learners() -> list[LearnerSpec]:
    """Register the numpy learner."""
    return [
        LearnerSpec(
            "numpy",
            "p2pfl_core.learning.numpy_learner:NumpyLearner",
            "softmax regression or a small MLP in numpy",
            model_builders=(
                ("softmax", "p2pfl_core.learning.numpy_learner:build_softmax"),
                ("mlp", "p2pfl_core.learning.numpy_learner:build_mlp"),
            ),
        )
    ]


@hookimpl
def p2pfl_register_aggregators() -> list[AggregatorSpec]:
    """Register core's aggregation rules."""
    module = "p2pfl_core.aggregators"
    return [
        AggregatorSpec(
            "fedavg",
            f"{module}.fedavg:FedAvg",
            "sample-weighted mean (McMahan et al. 2017)",
        ),
        AggregatorSpec(
            "fedmedian",
            f"{module}.fedmedian:FedMedian",
            "coordinate-wise median (Yin et al. 2018)",
        ),
        AggregatorSpec(
            "trimmed_mean",
            f"{module}.trimmed_mean:TrimmedMean",
            "coordinate-wise trimmed mean; beta or f (Yin et al. 2018)",
        ),
        AggregatorSpec(
            "fedavgm",
            f"{module}.fedavgm:FedAvgM",
            "FedAvg with server momentum; learning_rate, momentum (Hsu et al. 2019)",
        ),
        AggregatorSpec(
            "fedadam",
            f"{module}.fedadam:FedAdam",
            "server Adam step; eta, beta_1, beta_2, tau (Reddi et al. 2021)",
        ),
        AggregatorSpec(
            "fedyogi",
            f"{module}.fedyogi:FedYogi",
            "server Yogi step; eta, beta_1, beta_2, tau (Reddi et al. 2021)",
        ),
        AggregatorSpec(
            "fedadagrad",
            f"{module}.fedadagrad:FedAdagrad",
            "server Adagrad step; eta, beta_1, tau (Reddi et al. 2021)",
        ),
        AggregatorSpec(
            "scaffold",
            f"{module}.scaffold:Scaffold",
            "SCAFFOLD server step with control variates (Karimireddy et al. 2020)",
        ),
    ]


@hookimpl
def p2pfl_register_stages() -> list[StageSpec]:
    """Register the stages of the default workflow."""
    module = "p2pfl_core.workflow.stages"
    return [
        StageSpec(
            "start_learning",
            f"{module}:StartLearningStage",
            "agree on the initial model",
        ),
        StageSpec(
            "vote_train_set",
            f"{module}:VoteTrainSetStage",
            "elect the round's trainers",
        ),
        StageSpec("train", f"{module}:TrainStage", "fit locally and collect models"),
        StageSpec(
            "wait_aggregated_models",
            f"{module}:WaitAggregatedModelsStage",
            "non-trainers wait for the aggregate",
        ),
        StageSpec("gossip_model", f"{module}:GossipModelStage", "spread the aggregate"),
        StageSpec(
            "round_finished", f"{module}:RoundFinishedStage", "evaluate and report"
        ),
    ]


@hookimpl
def p2pfl_register_datasets() -> list[DatasetSpec]:
    """Register core's data sources."""
    module = "p2pfl_core.data.sources"
    return [
        DatasetSpec(
            "digits", f"{module}:load_digits", "scikit-learn 8x8 digits, 10 classes"
        ),
        DatasetSpec(
            "npz", f"{module}:load_npz", "features and labels from an .npz file"
        ),
        DatasetSpec("csv", f"{module}:load_csv", "numeric CSV with a label column"),
    ]


@hookimpl
def p2pfl_register_partitioners() -> list[PartitionerSpec]:
    """Register core's partitioners."""
    module = "p2pfl_core.data.partition"
    return [
        PartitionerSpec("iid", f"{module}:iid", "shuffled equal parts"),
        PartitionerSpec(
            "dirichlet", f"{module}:dirichlet", "class shares ~ Dirichlet(alpha)"
        ),
        PartitionerSpec("label_skew", f"{module}:label_skew", "a few classes per node"),
    ]


@hookimpl
def p2pfl_register_topologies() -> list[TopologySpec]:
    """Register core's topologies."""
    module = "p2pfl_core.topology"
    return [
        TopologySpec(name, f"{module}:{name}", description)
        for name, description in (
            ("full", "every pair connected"),
            ("ring", "each node to the next, closed"),
            ("line", "each node to the next"),
            ("star", "node 0 to all others"),
            ("random", "seeded random connected graph"),
        )
    ]
