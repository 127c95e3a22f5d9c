"""The keepalive half of the wire contract, as gRPC channel options for both ends.

Clients ping every 2 s and give up on a connection whose pings go unanswered for 4 s, so a
frozen node or a dead link ends a run in seconds; nodes must allow pings that often, with or
without data in between (see the comment above ``service SutNode`` in sut_node.proto).
"""

KEEPALIVE_TIME_MS = 2_000
KEEPALIVE_TIMEOUT_MS = 4_000

CLIENT_OPTIONS = [
    ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
    ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
    ("grpc.http2.ping_timeout_ms", KEEPALIVE_TIMEOUT_MS),  # what grpc core enforces today
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]

NODE_OPTIONS = [
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 1_000),
    ("grpc.http2.max_ping_strikes", 0),
]
