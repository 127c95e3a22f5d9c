"""Dispatch workers: the QDL's gRPC work in processes of its own (``--dispatch-workers N``).

One Python process tops out at a few thousand gRPC messages a second, with the LoadGen's issue
thread competing for the same GIL. With workers, the LoadGen process keeps the LoadGen, the
samples and the completion path; each worker process runs the gRPC channels, streams and event
loop of a share of the nodes. They talk through rings in shared memory (``_ring``): serialized
messages out, responses and send stamps back, and a control connection for the rare calls
(``_protocol``). ``WorkerPool`` starts and ends the workers and gives the QDL a ``Transport``
per node (``WorkerTransport``), so balancing, framing, the columnar wire, redispatch, node
statistics and both LoadGen bindings work as without workers.

What crosses a ring is the serialized message, so a sample's bytes are copied once into shared
memory per message (samples are not kept in shared memory from load time on): a memcpy, small
beside the gRPC work it moves out of the LoadGen process.
"""

from ._pool import WorkerPool
from ._ring import RingClosed, RingFull, RingMemory, RingReader, RingWriter
from ._transport import WorkerTransport

__all__ = [
    "RingClosed",
    "RingFull",
    "RingMemory",
    "RingReader",
    "RingWriter",
    "WorkerPool",
    "WorkerTransport",
]
