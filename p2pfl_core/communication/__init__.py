"""Transports, message envelopes and the gossip built on top of them."""
