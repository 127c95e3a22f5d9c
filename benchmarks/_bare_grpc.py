"""The gRPC ceiling: one bidirectional stream to an echo server that does nothing else.

No protobuf, no LoadGen, no QDL bookkeeping: raw bytes go out on one stream and come straight
back, with a fixed number of messages in flight. The server is a synchronous grpcio server in its
own process (as a ``sut-server`` node is) and the client uses ``grpc.aio`` on one event loop (as
the QDL does), so the figures are what grpcio itself costs on this machine; the QDL's figures
next to them show how much of that ceiling the whole network path keeps.

The client runs in a process of its own too: grpc.aio binds its poller to the first event loop
it meets, so an ``asyncio.run`` here would leave the benchmark's own QDL runs (on another loop)
with a closed one ("Event loop is closed" from grpc's poller at exit).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from concurrent import futures

import grpc
from grpc import aio

_SERVICE = "bench.Echo"
_METHOD = f"/{_SERVICE}/Stream"
_OPTIONS = [
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
]


def _serve(ports: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=_OPTIONS)
    echo = grpc.stream_stream_rpc_method_handler(lambda requests, context: requests)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(_SERVICE, {"Stream": echo}),)
    )
    ports.put(server.add_insecure_port("127.0.0.1:0"))
    server.start()
    server.wait_for_termination()


async def _echo(address: str, payload: bytes, count: int, window: int) -> float:
    async with aio.insecure_channel(address, options=_OPTIONS) as channel:
        call = channel.stream_stream(_METHOD)()
        credit = asyncio.Semaphore(window)

        async def write() -> None:
            for _ in range(count):
                await credit.acquire()
                await call.write(payload)
            await call.done_writing()

        await call.write(payload)  # warm the stream up before the clock starts
        await call.read()
        start = time.perf_counter()
        writer = asyncio.ensure_future(write())
        received = 0
        while received < count:
            if await call.read() == aio.EOF:
                raise RuntimeError("bare gRPC echo stream ended early")
            received += 1
            credit.release()
        elapsed = time.perf_counter() - start
        await writer
        return count / elapsed


def _client(port: int, size: int, count: int, window: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    out.put(asyncio.run(_echo(f"127.0.0.1:{port}", bytes(size), count, window)))


def echo_messages_per_second(size: int, count: int, window: int) -> float:
    """Messages/s of ``size`` bytes echoed over one stream with ``window`` in flight."""
    ctx = multiprocessing.get_context("spawn")
    ports = ctx.Queue()
    server = ctx.Process(target=_serve, args=(ports,), daemon=True)
    server.start()
    try:
        port = ports.get(timeout=30)
        rates = ctx.Queue()
        client = ctx.Process(target=_client, args=(port, size, count, window, rates), daemon=True)
        client.start()
        try:
            return float(rates.get(timeout=600))
        finally:
            client.join(10)
    finally:
        server.terminate()
        server.join(10)
