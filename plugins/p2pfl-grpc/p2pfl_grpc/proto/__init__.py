"""Protobuf and gRPC modules generated from ``node.proto`` when the plugin is built."""
