"""p2pfl: decentralized federated learning over a peer-to-peer network.

The core is numpy-only. Frameworks, transports and extra algorithms come from
plugins registered under the entry point group ``p2pfl``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
