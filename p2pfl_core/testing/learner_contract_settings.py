"""The part of the learner contract that builds learners with ``from_settings``.

The tests run when the contract's subclass sets ``learner_class``. The model
builders below are the contract's own: a builder path in an experiment file
may name any function, so every learner must report one that fails.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from p2pfl_core.data.dataset import NodeData
from p2pfl_core.errors import ConfigError
from p2pfl_core.testing.learner_contract_base import LearnerContractBase

CONTRACT_MODULE = "p2pfl_core.testing.learner_contract_settings"


def build_no_model(*args: Any, **kwargs: Any) -> str:
    """Return a string where a model builder returns a model."""
    del args, kwargs
    return "not a model"


def build_invalid_model(*args: Any, **kwargs: Any) -> None:
    """Raise ValueError, as a builder does for an invalid argument value."""
    del args, kwargs
    raise ValueError("the contract's builder rejects every input")


class LearnerSettingsTests(LearnerContractBase):
    """Tests of ``from_settings``; they need ``learner_class``."""

    def test_name_key_is_accepted(self) -> None:
        """A section that names its own learner, as experiment files do, builds."""
        name = self.settings_learner().name
        learner = self.build_from_settings(name=name, epochs=2)
        assert learner.epochs == 2

    def test_unknown_setting_names_key(self) -> None:
        """An unknown key raises a ConfigError naming the key and the learner."""
        name = self.settings_learner().name
        with pytest.raises(ConfigError) as error:
            self.build_from_settings(learning_rte=0.1)
        expected = f"learner.learning_rte: unknown setting of the {name} learner"
        assert expected in str(error.value)

    def test_unknown_builder_name(self) -> None:
        """An unknown builder name raises a ConfigError naming the learner."""
        name = self.settings_learner().name
        with pytest.raises(ConfigError) as error:
            self.build_from_settings(model="p2pfl_no_such_model")
        expected = (
            f"learner.model: unknown {name} model 'p2pfl_no_such_model'; "
            "choose one of: "
        )
        assert expected in str(error.value)

    def test_builder_module_not_importable(self) -> None:
        """A builder path whose module is missing raises a ConfigError naming it."""
        with pytest.raises(ConfigError) as error:
            self.build_from_settings(model="p2pfl_no_such_module:build")
        assert "learner.model: cannot import 'p2pfl_no_such_module:build'" in str(
            error.value
        )

    def test_builder_function_missing(self) -> None:
        """A builder path whose function is missing raises a ConfigError naming it."""
        path = f"{CONTRACT_MODULE}:build_nothing_here"
        with pytest.raises(ConfigError) as error:
            self.build_from_settings(model=path)
        assert f"learner.model: cannot import {path!r}" in str(error.value)

    def test_builder_rejects_model_args(self) -> None:
        """A builder argument that does not exist is reported under model_args."""
        model_args = {**self.settings.get("model_args", {}), "p2pfl_no_such_arg": 3}
        with pytest.raises(ConfigError) as error:
            self.build_from_settings(model_args=model_args)
        message = str(error.value)
        assert message.startswith("learner.model_args: model "), message
        assert f"rejected {model_args!r}: " in message

    def test_builder_value_error_names_model_args(self) -> None:
        """A builder's ValueError is reported under model_args with its text."""
        path = f"{CONTRACT_MODULE}:build_invalid_model"
        with pytest.raises(ConfigError) as error:
            self.build_from_settings(model=path, model_args={})
        assert str(error.value) == (
            f"learner.model_args: model {path!r} rejected {{}}: "
            "the contract's builder rejects every input"
        )

    def test_builder_returning_other_type(self) -> None:
        """A builder that returns no model raises a ConfigError naming the type."""
        path = f"{CONTRACT_MODULE}:build_no_model"
        with pytest.raises(ConfigError) as error:
            self.build_from_settings(model=path, model_args={})
        assert str(error.value).startswith(
            f"learner.model: builder {path!r} returned str, not a "
        )

    def test_user_builder_module_function(self) -> None:
        """model: 'module:function' builds the user's model with its model_args."""
        if self.user_builder is None:
            pytest.skip("set user_builder to test a builder given as module:function")
        learner = self.build_from_settings(
            model=self.user_builder, model_args={"width": 7}
        )
        shapes = [array.shape for array in learner.get_weights().layers.values()]
        assert any(7 in shape for shape in shapes), shapes
        assert math.isfinite(learner.fit(0)["loss"])

    def test_evaluate_empty_test_split(self) -> None:
        """A node without test samples reports zeros instead of failing."""
        reference = self.build_from_settings()
        features = reference.data.x_train.shape[1:]
        data = NodeData(
            np.ones((3, *features), np.float32),
            np.array([0, 1, 2]),
            np.zeros((0, *features), np.float32),
            np.zeros((0,), np.int64),
            reference.data.num_classes,
        )
        learner = self.build_from_settings(data)
        assert learner.evaluate() == {"loss": 0.0, "accuracy": 0.0}

    def test_settings_set_batch_size_and_epochs(self) -> None:
        """batch_size and epochs reach the learner."""
        learner = self.build_from_settings(batch_size=16, epochs=3)
        assert learner.batch_size == 16
        assert learner.epochs == 3
