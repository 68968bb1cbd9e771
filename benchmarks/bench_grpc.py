"""Throughput and latency of the gRPC transport, against raw TCP, on 127.0.0.1.

Measures, in one process:

- a 40 MB model message (10 M float32 encoded by ``encode_weights`` in a
  ``model`` message, as a node sends it) between two ``GrpcProtocol``
  endpoints, timed from ``send`` until the receiver's handler has the whole
  message, so encoding the message is included;
- the same bytes over a raw TCP socket (length prefix, ``recv_into`` a
  preallocated buffer), the ceiling for any transport on this machine;
- the ratio of the two throughputs (target: at least 0.5);
- p50 and p99 of a ~100-byte command round trip (A sends to B, B's handler
  replies, A's handler receives the reply).

gRPC and TCP transfers alternate, so both see the same load from other
programs. Each transfer also records the CPU time and minor page faults of
the whole process, which vary less than wall time on shared cores.

p2pfl-grpc sets glibc's malloc parameters when its first endpoint is created,
unless ``P2PFL_GRPC_TUNE_MALLOC=0`` is set, and the output states whether it
did.
"""

from __future__ import annotations

import argparse
import resource
import socket
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _common import write_json  # noqa: E402

from p2pfl_core.codec import decode_weights, encode_weights  # noqa: E402
from p2pfl_core.communication.message import Message  # noqa: E402
from p2pfl_core.node import MODEL  # noqa: E402
from p2pfl_core.weights import ModelWeights  # noqa: E402

try:
    from p2pfl_grpc.protocol import GrpcProtocol
except ImportError:
    print("bench_grpc: skipped, p2pfl-grpc is not installed")
    print("install it with: pip install -e plugins/p2pfl-grpc")
    sys.exit(0)

MODEL_FLOATS = 10_000_000
TARGET_RATIO = 0.5
WAIT_SECONDS = 30.0
WARMUP_ROUND_TRIPS = 50
PING, PONG = "bench_ping", "bench_pong"
_YES_NO = {True: "yes", False: "no"}


@dataclass(frozen=True)
class Sample:
    """Cost of one timed operation, counted for the whole process."""

    seconds: float
    cpu_seconds: float
    page_faults: int


class Stopwatch:
    """Wall time, CPU time and minor page faults since creation."""

    def __init__(self) -> None:
        self.faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        self.cpu = time.process_time()
        self.started = time.perf_counter()

    def sample(self, finished: float | None = None) -> Sample:
        """Return the cost up to ``finished`` (a ``perf_counter`` time) or now."""
        end = time.perf_counter() if finished is None else finished
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        return Sample(
            end - self.started, time.process_time() - self.cpu, faults - self.faults
        )


class Arrival:
    """The time and message of the latest arrival, with an event to wait on."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.at = 0.0
        self.message: Message | None = None

    def record(self, message: Message | None = None) -> None:
        """Store the arrival time and message, then wake the waiting thread."""
        self.at = time.perf_counter()
        self.message = message
        self.event.set()

    def wait(self, awaited: str) -> float:
        """Wait for the next arrival, clear the event and return its time."""
        if not self.event.wait(WAIT_SECONDS):
            raise TimeoutError(
                f"timed out after {WAIT_SECONDS:.0f} s waiting for {awaited}"
            )
        self.event.clear()
        return self.at


class TcpLink:
    """A raw TCP connection on 127.0.0.1 whose receiver reuses one buffer.

    Args:
        size: Largest message in bytes, which is the size of the receive buffer.
    """

    def __init__(self, size: int) -> None:
        self.arrival = Arrival()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(
            target=self._receive, args=(size,), name="bench-tcp", daemon=True
        )
        self._thread.start()
        self._client = socket.create_connection(self._listener.getsockname())
        self._client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, data: bytes) -> Sample:
        """Send ``data`` and return the cost until the receiver has all of it."""
        stopwatch = Stopwatch()
        self._client.sendall(len(data).to_bytes(8, "little"))
        self._client.sendall(data)
        return stopwatch.sample(self.arrival.wait("the message over TCP"))

    def close(self) -> None:
        """Close the connection, which ends the receiver thread, and the listener."""
        self._client.close()
        self._thread.join(WAIT_SECONDS)
        self._listener.close()

    def _receive(self, size: int) -> None:
        buffer = memoryview(bytearray(size))
        prefix = memoryview(bytearray(8))
        connection, _ = self._listener.accept()
        with connection:
            while _recv_exactly(connection, prefix):
                length = int.from_bytes(prefix, "little")
                if length > size or not _recv_exactly(connection, buffer[:length]):
                    return
                self.arrival.record()


def _recv_exactly(connection: socket.socket, view: memoryview) -> bool:
    received = 0
    while received < len(view):
        count = connection.recv_into(view[received:])
        if count == 0:
            return False
        received += count
    return True


def model_message(origin: str) -> Message:
    """Build a ``model`` message carrying 10 M float32, as a node sends it."""
    layer = np.random.default_rng(0).standard_normal(MODEL_FLOATS, dtype=np.float32)
    weights = ModelWeights({"dense.weight": layer}, 1000, (origin,))
    args = {"kind": "model", "contributor": origin}
    return Message(MODEL, origin, 0, args, encode_weights(weights))


def peak_rss_mb() -> float:
    """Return the peak resident memory of this process so far, in MB (Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def malloc_tuned() -> bool | None:
    """Return whether p2pfl-grpc set glibc's malloc parameters, None if unknown."""
    try:
        from p2pfl_grpc.allocation import tune_malloc
    except ImportError:  # a p2pfl-grpc version without this setting
        return None
    return tune_malloc()


def start_pair() -> tuple[GrpcProtocol, GrpcProtocol]:
    """Start two endpoints and return once the second has the first as neighbour."""
    first, second = GrpcProtocol("127.0.0.1:0"), GrpcProtocol("127.0.0.1:0")
    connected = Arrival()
    second.add_handler("connect", lambda message, sender: connected.record())
    first.start()
    second.start()
    try:
        if not first.connect(second.address):
            raise ConnectionError(
                f"{first.address} failed to connect to {second.address}"
            )
        connected.wait("the connect message")
    except BaseException:
        first.stop()
        second.stop()
        raise
    return first, second


def time_transfers(
    first: GrpcProtocol, second: GrpcProtocol, message: Message, repeats: int
) -> tuple[list[Sample], list[Sample], list[Sample]]:
    """Alternate sending ``message`` over gRPC and its bytes over raw TCP.

    The first round warms up channels and allocator and is not counted.

    Returns:
        The gRPC transfers, the TCP transfers and ``Message.encode`` alone.
    """
    arrival = Arrival()
    second.add_handler(MODEL, lambda received, _: arrival.record(received))
    data = message.encode()
    grpc_samples, tcp_samples, encode_samples = [], [], []
    link = TcpLink(len(data))
    try:
        for attempt in range(repeats + 1):
            stopwatch = Stopwatch()
            first.send(second.address, message)
            grpc_sample = stopwatch.sample(arrival.wait("the model over gRPC"))
            received, arrival.message = arrival.message, None
            if received is None or received.payload != message.payload:
                raise RuntimeError(
                    "the model received over gRPC differs from the sent one"
                )
            del received  # free the 40 MB before the next transfer allocates again
            tcp_sample = link.send(data)
            stopwatch = Stopwatch()
            message.encode()
            encode_sample = stopwatch.sample()
            if attempt:
                grpc_samples.append(grpc_sample)
                tcp_samples.append(tcp_sample)
                encode_samples.append(encode_sample)
    finally:
        link.close()
    return grpc_samples, tcp_samples, encode_samples


def time_round_trips(
    first: GrpcProtocol, second: GrpcProtocol, repeats: int
) -> tuple[list[float], int]:
    """Time command round trips after warm-ups.

    Returns:
        The seconds of each timed round trip and the size of a command in bytes.
    """
    reply = Arrival()
    first.add_handler(PONG, lambda message, _: reply.record())
    second.add_handler(
        PING,
        lambda message, sender: second.send(
            sender, Message(PONG, second.address, message.round, message.args)
        ),
    )
    seconds = []
    for index in range(WARMUP_ROUND_TRIPS + repeats):
        ping = Message(PING, first.address, 0, {"seq": index})
        started = time.perf_counter()
        first.send(second.address, ping)
        finished = reply.wait("the reply to a command")
        if index >= WARMUP_ROUND_TRIPS:
            seconds.append(finished - started)
    return seconds, len(ping.encode())


@dataclass
class Summary:
    """Medians of timed operations on ``size`` bytes, with times in milliseconds."""

    ms: list[float]
    ms_median: float
    cpu_ms_median: float
    page_faults_median: float
    gb_per_s: float

    @classmethod
    def from_samples(cls, samples: list[Sample], size: int) -> Summary:
        """Summarize ``samples`` of operations on ``size`` bytes."""
        wall = statistics.median(s.seconds for s in samples)
        cpu = statistics.median(s.cpu_seconds for s in samples)
        return cls(
            ms=[round(s.seconds * 1000, 2) for s in samples],
            ms_median=round(wall * 1000, 2),
            cpu_ms_median=round(cpu * 1000, 2),
            page_faults_median=statistics.median(s.page_faults for s in samples),
            gb_per_s=round(size / wall / 1e9, 3),
        )

    def to_json(self, prefix: str) -> dict[str, object]:
        """Return the fields with ``prefix`` before each name."""
        return {f"{prefix}_{key}": value for key, value in asdict(self).items()}


def main() -> None:
    """Measure gRPC and raw TCP, print a table and write results/grpc.json."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed 40 MB transfers per transport"
    )
    parser.add_argument(
        "--quick", action="store_true", help="3 transfers and 200 round trips"
    )
    args = parser.parse_args()
    repeats, round_trips = (3, 200) if args.quick else (args.repeats, 500)

    first, second = start_pair()
    try:
        message = model_message(first.address)
        decode_weights(message.payload)  # the model must be valid before timing
        samples = time_transfers(first, second, message, repeats)
        latencies, command_bytes = time_round_trips(first, second, round_trips)
    finally:
        first.stop()
        second.stop()

    size = len(message.encode())
    grpc, tcp, encode = (Summary.from_samples(s, size) for s in samples)
    ratio = tcp.ms_median / grpc.ms_median
    p50, p99 = (float(np.percentile(latencies, q)) * 1000 for q in (50, 99))

    print(f"model message: {size / 1e6:.1f} MB, {repeats} timed transfers each")
    print(f"{'':<16} {'median ms':>10} {'CPU ms':>8} {'page faults':>12} {'GB/s':>7}")
    for name, row in (("gRPC", grpc), ("raw TCP", tcp), ("Message.encode", encode)):
        print(
            f"{name:<16} {row.ms_median:>10.1f} {row.cpu_ms_median:>8.1f} "
            f"{row.page_faults_median:>12.0f} {row.gb_per_s:>7.2f}"
        )
    print("(gRPC includes encoding; CPU and page faults of the whole process)")
    tuned = malloc_tuned()
    print(
        f"malloc parameters set by p2pfl-grpc: {_YES_NO.get(tuned, 'unknown')}; "
        f"peak resident memory {peak_rss_mb():.0f} MB"
    )
    verdict = "meets" if ratio >= TARGET_RATIO else "BELOW"
    print(
        f"gRPC / raw TCP throughput = {ratio:.2f} ({verdict} the target {TARGET_RATIO})"
    )
    print(
        f"command round trip ({command_bytes} bytes, {len(latencies)} after "
        f"{WARMUP_ROUND_TRIPS} warm-ups): p50 {p50:.2f} ms, p99 {p99:.2f} ms"
    )
    write_json(
        "grpc",
        {
            "model_message_bytes": size,
            "malloc_tuned": tuned,
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "transfers": repeats,
            **grpc.to_json("grpc"),
            **tcp.to_json("tcp"),
            **encode.to_json("message_encode"),
            "grpc_to_tcp_ratio": round(ratio, 3),
            "target_ratio": TARGET_RATIO,
            "command_bytes": command_bytes,
            "round_trips": len(latencies),
            "round_trip_ms_p50": round(p50, 3),
            "round_trip_ms_p99": round(p99, 3),
        },
    )


if __name__ == "__main__":
    main()
