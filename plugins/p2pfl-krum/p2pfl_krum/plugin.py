"""Entry module of the p2pfl-krum plugin; imports nothing but p2pfl_core.plugin."""

from __future__ import annotations

from p2pfl_core.plugin import AggregatorSpec, hookimpl


@hookimpl
def p2pfl_register_aggregators() -> list[AggregatorSpec]:
    """Register Krum, Multi-Krum and Bulyan."""
    return [
        AggregatorSpec(
            "krum",
            "p2pfl_krum.krum:Krum",
            "the model closest to its neighbours; f (Blanchard et al. 2017)",
        ),
        AggregatorSpec(
            "multikrum",
            "p2pfl_krum.multikrum:MultiKrum",
            "mean of the m best Krum scores; f, m (El Mhamdi et al. 2018)",
        ),
        AggregatorSpec(
            "bulyan",
            "p2pfl_krum.bulyan:Bulyan",
            "Krum selection, then a trimmed mean around the median; f "
            "(El Mhamdi et al. 2018)",
        ),
    ]
