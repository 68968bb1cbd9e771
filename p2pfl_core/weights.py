"""Framework-neutral model weights exchanged between nodes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np


@dataclass
class ModelWeights(Mapping[str, np.ndarray]):
    """An ordered mapping of layer name to array, with federation metadata.

    Args:
        layers: Layer name to array, in the model's own order. Arrays may have
            any shape (0-d included) and any float or integer dtype.
        num_samples: Number of training samples behind these weights, used as
            the weight of this model in sample-weighted aggregation.
        contributors: Ids of the nodes whose training these weights contain.
        extra: Additional named arrays that travel with the model, such as
            SCAFFOLD control variates. Aggregators leave them alone unless the
            algorithm uses them.
    """

    layers: dict[str, np.ndarray]
    num_samples: int = 0
    contributors: tuple[str, ...] = ()
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.layers = {name: np.asarray(value) for name, value in self.layers.items()}
        self.extra = {name: np.asarray(value) for name, value in self.extra.items()}
        self.contributors = tuple(self.contributors)
        if self.num_samples < 0:
            raise ValueError(f"num_samples must be >= 0, got {self.num_samples}")

    def __getitem__(self, name: str) -> np.ndarray:
        return self.layers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def nbytes(self) -> int:
        """Total size of the layer and extra arrays in bytes."""
        arrays = [*self.layers.values(), *self.extra.values()]
        return sum(int(a.nbytes) for a in arrays)

    def is_finite(self) -> bool:
        """Return True when no floating-point layer contains NaN or infinity."""
        return all(_all_finite(a) for a in self.layers.values())

    def non_finite_layers(self) -> list[str]:
        """Return the names of the layers that hold NaN or infinity."""
        return [name for name, a in self.layers.items() if not _all_finite(a)]

    def copy(self) -> ModelWeights:
        """Return a deep copy whose arrays are writeable and owned."""
        return ModelWeights(
            {k: np.array(v, copy=True) for k, v in self.layers.items()},
            num_samples=self.num_samples,
            contributors=self.contributors,
            extra={k: np.array(v, copy=True) for k, v in self.extra.items()},
        )

    def with_metadata(
        self,
        *,
        num_samples: int | None = None,
        contributors: Iterable[str] | None = None,
    ) -> ModelWeights:
        """Return the same arrays with new metadata (arrays are not copied)."""
        return ModelWeights(
            dict(self.layers),
            num_samples=self.num_samples if num_samples is None else num_samples,
            contributors=(
                self.contributors if contributors is None else tuple(contributors)
            ),
            extra=dict(self.extra),
        )

    def describe_mismatch(self, other: ModelWeights) -> list[str]:
        """List the differences in layer names, shapes and dtypes to ``other``.

        Returns:
            One human-readable line per difference; empty when compatible.
        """
        problems: list[str] = []
        missing = [n for n in self.layers if n not in other.layers]
        unexpected = [n for n in other.layers if n not in self.layers]
        if missing:
            problems.append(f"layers missing: {', '.join(missing)}")
        if unexpected:
            problems.append(f"unexpected layers: {', '.join(unexpected)}")
        for name, mine in self.layers.items():
            theirs = other.layers.get(name)
            if theirs is None:
                continue
            if mine.shape != theirs.shape:
                problems.append(
                    f"layer {name!r}: shape {theirs.shape} != expected {mine.shape}"
                )
            elif mine.dtype != theirs.dtype:
                problems.append(
                    f"layer {name!r}: dtype {theirs.dtype} != expected {mine.dtype}"
                )
        return problems


def _all_finite(array: np.ndarray) -> bool:
    if not np.issubdtype(array.dtype, np.inexact):
        return True
    return bool(np.isfinite(array).all())
