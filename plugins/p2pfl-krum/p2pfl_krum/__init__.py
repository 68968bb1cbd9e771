"""Byzantine-robust aggregators for p2pfl: Krum, Multi-Krum and Bulyan.

The aggregators are registered through :mod:`p2pfl_krum.plugin` and loaded
by name (``krum``, ``multikrum``, ``bulyan``) from experiment files.
"""

__version__ = "0.1.0"
