"""Tests of experiment files: validation messages, overrides and the run command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from p2pfl_core.cli.main import _add_builtin_commands, cli
from p2pfl_core.config import apply_overrides, load_experiment
from p2pfl_core.errors import ConfigError, PluginError
from p2pfl_core.manager import PluginManager

GOOD = {
    "seed": 3,
    "nodes": 3,
    "rounds": 2,
    "topology": "ring",
    "data": {"dataset": "digits", "partition": "iid"},
    "learner": {"name": "numpy", "learning_rate": 0.5},
    "aggregator": "fedavg",
    "timeouts": {"heartbeat_period": 0.2},
}


def run_cli(tmp_path: Path, content: object, *extra: str) -> tuple[int, str]:
    """Write ``content`` as YAML (or raw text) and run ``p2pfl run`` on it."""
    path = tmp_path / "experiment.yaml"
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    _add_builtin_commands()
    result = CliRunner().invoke(
        cli, ["run", str(path), "-o", str(tmp_path / "out"), *extra]
    )
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"aggregator": "krumm"}, "aggregator: unknown aggregator 'krumm'"),
        ({"aggregator": "krumm"}, "choose one of: "),
        ({"rounds": None}, "rounds: "),
        ({"rounds": "ten"}, "rounds: input should be a valid integer"),
        ({"rounds": -3}, "rounds: input should be greater than or equal to 1, got -3"),
        ({"train_set_size": 5}, "train_set_size: must be at most nodes (3), got 5"),
        ({"topology": "donut"}, "topology: unknown topology 'donut'"),
        ({"topology": "donut"}, "full, line, random, ring, star"),
        ({"colour": "red"}, "colour: unknown key"),
        (
            {"data": {"partition": "dirichlet", "beta": 1}},
            "data.beta: unknown key; accepted: alpha, min_partition_size",
        ),
        ({"rounds": True}, "rounds: input should be a valid integer, got True"),
        ({"seed": -1}, "seed: input should be greater than or equal to 0, got -1"),
        ({"name": "../escape"}, "name: value error, must be letters, digits"),
        (
            {"protocol": "memory", "launch": "processes"},
            "launch: processes needs a protocol that crosses processes",
        ),
        (
            {"data": {"dataset": "npz"}},
            "data.dataset_options: dataset npz needs a file",
        ),
        (
            {"learner": {"name": "numpy", "learning_rate": float("inf")}},
            "learner.learning_rate: expected a finite number > 0.0, got inf",
        ),
    ],
)
def test_bad_experiment_exits_with_one_clear_message(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    """Each mistake names its key path, exits 1, and prints no traceback."""
    content = {**GOOD, **change}
    content = {k: v for k, v in content.items() if v is not None}
    code, output = run_cli(tmp_path, content)
    assert code == 1
    assert message in output
    assert "Traceback" not in output
    assert [line.startswith("Error:") for line in output.splitlines()] == [True]


def test_missing_key_is_named(tmp_path: Path) -> None:
    """A file without rounds reports that rounds is required."""
    content = {k: v for k, v in GOOD.items() if k != "rounds"}
    code, output = run_cli(tmp_path, content)
    assert code == 1
    assert "rounds: required key is missing" in output


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    """A YAML syntax error reports the line and column."""
    code, output = run_cli(tmp_path, "nodes: 3\nrounds: [1, 2\n")
    assert code == 1
    assert "invalid YAML at line 3, column 1" in output


def test_exponent_without_dot_is_a_float(tmp_path: Path) -> None:
    """learning_rate: 1e-1 is read as 0.1, not as the string '1e-1'."""
    path = tmp_path / "e.yaml"
    path.write_text(
        "nodes: 2\nrounds: 1\nlearner: {name: numpy, learning_rate: 1e-1}\n"
    )
    assert load_experiment(path).learner.params["learning_rate"] == 0.1
    overridden = load_experiment(path, ["learner.learning_rate=5e-1"])
    assert overridden.learner.params["learning_rate"] == 0.5


def test_invalid_override_value_is_reported() -> None:
    """--set rounds={ names the override instead of showing a YAML traceback."""
    with pytest.raises(ConfigError, match=r"--set 'rounds=\{': invalid YAML value"):
        load_experiment(GOOD, ["rounds={"])


def test_binary_file_is_reported(tmp_path: Path) -> None:
    """A file that is not UTF-8 text gives one message."""
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00rounds")
    with pytest.raises(ConfigError, match="not a text file"):
        load_experiment(path)


def test_missing_plugin_component_names_the_package() -> None:
    """An unknown 'torch' learner names the package that provides it."""
    manager = PluginManager(autoload=False)
    with pytest.raises(PluginError, match="pip install p2pfl-torch"):
        manager.get("learner", "torch")


def test_missing_file_is_reported(tmp_path: Path) -> None:
    """A path that does not exist gives a plain error."""
    _add_builtin_commands()
    result = CliRunner().invoke(cli, ["run", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "cannot read the file" in result.output


def test_overrides_reach_nested_keys() -> None:
    """--set parses YAML scalars and creates sections as needed."""
    data = apply_overrides(
        GOOD, ["rounds=5", "learner.learning_rate=0.05", "aggregator.f=1"]
    )
    assert data["rounds"] == 5
    assert data["learner"]["learning_rate"] == 0.05
    assert data["aggregator"] == {"name": "fedavg", "f": 1}
    assert GOOD["rounds"] == 2


def test_override_without_equals_is_rejected() -> None:
    """An override that is not key=value raises ConfigError."""
    with pytest.raises(ConfigError, match="expected key.path=value"):
        load_experiment(GOOD, ["rounds"])


def test_run_writes_the_results_folder(tmp_path: Path) -> None:
    """A run prints each round and writes config, metrics, traffic, stages, summary and plot."""
    code, output = run_cli(tmp_path, GOOD)
    assert code == 0, output
    assert "round   1/2  mean accuracy" in output
    assert "round   2/2  mean accuracy" in output
    out = tmp_path / "out"
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "accuracy.png",
        "config.yaml",
        "metrics.csv",
        "metrics.json",
        "stages.json",
        "summary.json",
        "traffic.json",
    ]
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics) == 6
    assert (out / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    traffic = json.loads((out / "traffic.json").read_text())
    assert sorted(traffic) == ["node-0", "node-1", "node-2"]
    assert all(t["sent"] > 0 and t["received"] > 0 for t in traffic.values())
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["seed"] == 3
    assert config["timeouts"]["heartbeat_period"] == 0.2
    assert len((out / "metrics.csv").read_text().splitlines()) == 7


def test_two_runs_write_identical_metrics(tmp_path: Path) -> None:
    """Accuracy and loss of every node and round match across two runs of one seed."""
    keys = ("round", "node", "accuracy", "loss", "train_loss", "contributors")
    runs = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        code, output = run_cli(folder, GOOD)
        assert code == 0, output
        metrics = json.loads((folder / "out" / "metrics.json").read_text())
        runs.append([[m[k] for k in keys] for m in metrics])
    assert runs[0] == runs[1]
