"""Weights codec: raw array buffers behind a typed JSON header, never pickle.

Layout of an encoded model (all integers little-endian)::

    b"P2PW" | version: u8 | header length: u32 | header: JSON (UTF-8)
    | zero padding to a multiple of 8 | array buffers, each 8-byte aligned

The header lists every array with its name, dtype (from an allow-list), shape,
offset and size in bytes. Decoding checks all of them against the buffer and
the configured maximum before it touches the data, and returns read-only
arrays that share the input buffer instead of copying it.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import numpy as np

from p2pfl_core.errors import DecodeError
from p2pfl_core.weights import ModelWeights

MAGIC = b"P2PW"
VERSION = 1
_PREFIX = struct.Struct("<4sBI")
MAX_HEADER_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_MODEL_BYTES = 2 * 1024**3

#: dtypes a peer may send, spelled as numpy's little-endian type strings.
ALLOWED_DTYPES = frozenset(
    ["|b1", "|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8"]
    + ["<f2", "<f4", "<f8"]
)


def _align(n: int) -> int:
    return (n + 7) // 8 * 8


def _dtype_str(array: np.ndarray) -> str:
    dtype = (
        array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
    )
    text = dtype.str
    if text not in ALLOWED_DTYPES:
        raise ValueError(
            f"dtype {array.dtype} cannot be sent; allowed: {sorted(ALLOWED_DTYPES)}"
        )
    return text


def encode_weights(weights: ModelWeights) -> bytes:
    """Encode weights into one bytes object.

    Args:
        weights: The model to encode.

    Returns:
        The encoded model.

    Raises:
        ValueError: An array has a dtype outside the allow-list.
    """
    entries: list[dict[str, Any]] = []
    arrays: list[np.ndarray] = []
    offset = 0
    for section, mapping in (("layers", weights.layers), ("extra", weights.extra)):
        for name, array in mapping.items():
            dtype = _dtype_str(array)
            contiguous = np.asarray(array, dtype=np.dtype(dtype), order="C")
            entries.append(
                {
                    "section": section,
                    "name": name,
                    "dtype": dtype,
                    "shape": list(contiguous.shape),
                    "offset": offset,
                    "nbytes": int(contiguous.nbytes),
                }
            )
            arrays.append(contiguous)
            offset = _align(offset + contiguous.nbytes)
    header = json.dumps(
        {
            "num_samples": int(weights.num_samples),
            "contributors": list(weights.contributors),
            "arrays": entries,
        },
        separators=(",", ":"),
    ).encode()
    data_start = _align(_PREFIX.size + len(header))
    out = bytearray(data_start + offset)
    _PREFIX.pack_into(out, 0, MAGIC, VERSION, len(header))
    # Writing through a memoryview copies once; a bytearray slice assignment
    # from another buffer would copy into a temporary first.
    view = memoryview(out)
    view[_PREFIX.size : _PREFIX.size + len(header)] = header
    for entry, array in zip(entries, arrays, strict=True):
        start = data_start + entry["offset"]
        view[start : start + entry["nbytes"]] = array.reshape(-1).view(np.uint8).data
    return bytes(out)


def decode_weights(
    data: bytes | memoryview, *, max_bytes: int = DEFAULT_MAX_MODEL_BYTES
) -> ModelWeights:
    """Decode weights written by :func:`encode_weights`, checking everything first.

    Args:
        data: The encoded model.
        max_bytes: Largest encoded size accepted.

    Returns:
        Weights whose arrays are read-only views into ``data``.

    Raises:
        DecodeError: The input is truncated, oversize, or its header is
            malformed or inconsistent with the buffer.
    """
    view = memoryview(data).cast("B")
    if len(view) > max_bytes:
        raise DecodeError(f"model of {len(view)} bytes exceeds the limit {max_bytes}")
    if len(view) < _PREFIX.size:
        raise DecodeError(f"model truncated: {len(view)} bytes")
    magic, version, header_len = _PREFIX.unpack_from(view, 0)
    if magic != MAGIC:
        raise DecodeError(f"not an encoded model: magic {bytes(magic)!r}")
    if version != VERSION:
        raise DecodeError(f"unsupported model format version {version}")
    if header_len > min(MAX_HEADER_BYTES, len(view) - _PREFIX.size):
        raise DecodeError(f"header length {header_len} exceeds the message")
    header = _parse_header(view[_PREFIX.size : _PREFIX.size + header_len])
    data_start = _align(_PREFIX.size + header_len)
    payload = view[data_start:] if data_start <= len(view) else view[0:0]
    layers: dict[str, np.ndarray] = {}
    extra: dict[str, np.ndarray] = {}
    end_of_previous = 0
    for entry in header["arrays"]:
        array = _read_array(entry, payload, end_of_previous)
        end_of_previous = entry["offset"] + entry["nbytes"]
        target = layers if entry["section"] == "layers" else extra
        if entry["name"] in target:
            raise DecodeError(f"duplicate array name {entry['name']!r}")
        target[entry["name"]] = array
    return ModelWeights(
        layers,
        num_samples=header["num_samples"],
        contributors=tuple(header["contributors"]),
        extra=extra,
    )


def _parse_header(raw: memoryview) -> dict[str, Any]:
    try:
        header = json.loads(bytes(raw))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError(f"model header is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise DecodeError("model header must be a JSON object")
    num_samples = header.get("num_samples")
    if not isinstance(num_samples, int) or isinstance(num_samples, bool):
        raise DecodeError("model header: num_samples must be an integer")
    if num_samples < 0:
        raise DecodeError(f"model header: num_samples {num_samples} is negative")
    contributors = header.get("contributors")
    if not isinstance(contributors, list) or not all(
        isinstance(c, str) for c in contributors
    ):
        raise DecodeError("model header: contributors must be a list of strings")
    arrays = header.get("arrays")
    if not isinstance(arrays, list):
        raise DecodeError("model header: arrays must be a list")
    for entry in arrays:
        _check_entry(entry)
    return header


def _check_entry(entry: Any) -> None:
    if not isinstance(entry, dict):
        raise DecodeError("model header: each array entry must be an object")
    if entry.get("section") not in ("layers", "extra"):
        raise DecodeError(f"model header: invalid section {entry.get('section')!r}")
    if not isinstance(entry.get("name"), str):
        raise DecodeError("model header: array name must be a string")
    if entry.get("dtype") not in ALLOWED_DTYPES:
        raise DecodeError(
            f"array {entry.get('name')!r}: dtype {entry.get('dtype')!r} not allowed"
        )
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise DecodeError(f"array {entry['name']!r}: invalid shape {shape!r}")
    for key in ("offset", "nbytes"):
        value = entry.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise DecodeError(f"array {entry['name']!r}: invalid {key} {value!r}")


def _read_array(
    entry: dict[str, Any], payload: memoryview, end_of_previous: int
) -> np.ndarray:
    dtype = np.dtype(entry["dtype"])
    expected = math.prod(entry["shape"]) * dtype.itemsize
    name = entry["name"]
    if entry["nbytes"] != expected:
        raise DecodeError(
            f"array {name!r}: {entry['nbytes']} bytes do not match "
            f"shape {tuple(entry['shape'])} of {dtype}"
        )
    if entry["offset"] < end_of_previous or entry["offset"] % 8:
        raise DecodeError(
            f"array {name!r}: offset {entry['offset']} overlaps or is unaligned"
        )
    if entry["offset"] + expected > len(payload):
        raise DecodeError(
            f"array {name!r}: needs {entry['offset'] + expected} bytes, "
            f"message carries {len(payload)}"
        )
    array = np.frombuffer(
        payload, dtype=dtype, count=math.prod(entry["shape"]), offset=entry["offset"]
    )
    return array.reshape(entry["shape"])
