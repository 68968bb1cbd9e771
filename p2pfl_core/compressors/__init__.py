"""Payload transforms applied to encoded weights before they are sent."""

from p2pfl_core.compressors.base import Compressor, CompressorChain

__all__ = ["Compressor", "CompressorChain"]
