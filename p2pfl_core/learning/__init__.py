"""The learner interface and core's numpy learner."""

from p2pfl_core.learning.learner import Learner, LearnerCallback

__all__ = ["Learner", "LearnerCallback"]
