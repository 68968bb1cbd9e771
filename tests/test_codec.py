"""Tests of the weights codec: round trips and rejection of bad input."""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from p2pfl_core.codec import DEFAULT_MAX_MODEL_BYTES, decode_weights, encode_weights
from p2pfl_core.errors import DecodeError
from p2pfl_core.weights import ModelWeights


def _sample() -> ModelWeights:
    return ModelWeights(
        {
            "dense.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
            "dense.bias": np.array([0.5, -1.5], dtype=np.float64),
            "bn.num_batches_tracked": np.array(7, dtype=np.int64),
            "mask": np.array([True, False, True]),
            "empty": np.zeros((0, 4), dtype=np.float16),
        },
        num_samples=42,
        contributors=("node-1", "node-2"),
        extra={"control": np.array([1, 2, 3], dtype=np.uint8)},
    )


def _rewrite_header(data: bytes, change: object) -> bytes:
    """Return ``data`` with its JSON header replaced by ``change(header)``."""
    header_len = struct.unpack_from("<I", data, 5)[0]
    header = json.loads(data[9 : 9 + header_len])
    change(header)  # type: ignore[operator]
    new = json.dumps(header).encode()
    start = (9 + header_len + 7) // 8 * 8
    new_start = (9 + len(new) + 7) // 8 * 8
    return (
        data[:5]
        + struct.pack("<I", len(new))
        + new
        + b"\0" * (new_start - 9 - len(new))
        + data[start:]
    )


def test_round_trip_keeps_values_dtypes_and_metadata() -> None:
    """Every layer and extra array comes back with the same dtype, shape and values."""
    original = _sample()
    decoded = decode_weights(encode_weights(original))
    assert list(decoded) == list(original)
    for name in original:
        assert decoded[name].dtype == original[name].dtype
        assert decoded[name].shape == original[name].shape
        np.testing.assert_array_equal(decoded[name], original[name])
    np.testing.assert_array_equal(decoded.extra["control"], [1, 2, 3])
    assert decoded.num_samples == 42
    assert decoded.contributors == ("node-1", "node-2")


def test_zero_dimensional_array_stays_an_array() -> None:
    """A 0-d layer decodes to an ndarray of shape ()."""
    decoded = decode_weights(encode_weights(ModelWeights({"scale": np.float32(2.5)})))
    assert isinstance(decoded["scale"], np.ndarray)
    assert decoded["scale"].shape == ()
    assert decoded["scale"].item() == 2.5


def test_big_endian_input_is_sent_little_endian() -> None:
    """A big-endian array is converted, not rejected."""
    weights = ModelWeights({"w": np.array([1.0, 2.0], dtype=">f4")})
    decoded = decode_weights(encode_weights(weights))
    assert decoded["w"].dtype == np.dtype("<f4")
    np.testing.assert_array_equal(decoded["w"], [1.0, 2.0])


def test_object_dtype_cannot_be_encoded() -> None:
    """An object array is refused before anything is sent."""
    with pytest.raises(ValueError, match="cannot be sent"):
        encode_weights(ModelWeights({"w": np.array([object()], dtype=object)}))


def test_decoded_arrays_share_the_buffer() -> None:
    """Decoding does not copy the arrays: they are read-only views."""
    decoded = decode_weights(encode_weights(_sample()))
    assert not decoded["dense.weight"].flags.writeable


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h: h["arrays"][0].update(dtype="|O"), "not allowed"),
        (lambda h: h["arrays"][0].update(shape=[4, 3]), "do not match"),
        (lambda h: h["arrays"][0].update(shape=[-1]), "invalid shape"),
        (lambda h: h["arrays"][1].update(offset=0), "overlaps"),
        (lambda h: h["arrays"][0].update(nbytes=10**12, shape=[10**12 // 4]), "needs"),
        (lambda h: h.update(num_samples=-3), "negative"),
        (lambda h: h.update(contributors="node-1"), "contributors"),
        (lambda h: h["arrays"][0].update(section="other"), "section"),
    ],
)
def test_inconsistent_header_is_rejected(change: object, message: str) -> None:
    """A header that disagrees with the buffer raises DecodeError before allocating."""
    data = _rewrite_header(encode_weights(_sample()), change)
    with pytest.raises(DecodeError, match=message):
        decode_weights(data)


def test_truncated_buffer_is_rejected() -> None:
    """Cutting the last bytes off a model is detected."""
    data = encode_weights(_sample())
    with pytest.raises(DecodeError, match="needs"):
        decode_weights(data[:-16])


def test_oversize_model_is_rejected_by_limit() -> None:
    """A model above max_bytes is refused with its size and the limit."""
    data = encode_weights(ModelWeights({"w": np.zeros(1000, np.float32)}))
    with pytest.raises(DecodeError, match=f"{len(data)} bytes exceeds the limit 1000"):
        decode_weights(data, max_bytes=1000)
    assert DEFAULT_MAX_MODEL_BYTES == 2 * 1024**3


@pytest.mark.parametrize(
    "data", [b"", b"P2PW", b"XXXX\x01\0\0\0\0", b"P2PW\x07\0\0\0\0"]
)
def test_garbage_is_rejected(data: bytes) -> None:
    """Empty, truncated, foreign and future-version inputs raise DecodeError."""
    with pytest.raises(DecodeError):
        decode_weights(data)


def test_header_that_is_not_json_is_rejected() -> None:
    """A header of invalid UTF-8/JSON raises DecodeError."""
    data = b"P2PW\x01" + struct.pack("<I", 4) + b"\xff\xfe{[" + b"\0" * 8
    with pytest.raises(DecodeError, match="not valid JSON"):
        decode_weights(data)


class _WritesMarker:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (Path.write_text, (Path(self.path), "pwned"))


def test_pickle_payload_never_runs(tmp_path: Path) -> None:
    """A pickle whose loading would write a file is rejected and runs nothing."""
    marker = tmp_path / "marker"
    payload = pickle.dumps(_WritesMarker(str(marker)))
    with pytest.raises(DecodeError):
        decode_weights(payload)
    assert not marker.exists()
