"""Running the reference engine: bind, print the ready line, serve until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable
from typing import TextIO

from aiohttp import web

from ._app import ReferenceEngine
from ._config import EngineConfig


async def start(config: EngineConfig, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Serve ``config`` on host:port (0 = any free port); returns the runner and the base URL."""
    engine = ReferenceEngine(config)
    # shutdown_timeout: a stalled stream (--stall-after) must not hold a stop for long
    runner = web.AppRunner(
        engine.app(), access_log=None, handle_signals=False, shutdown_timeout=2.0
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    bound = runner.addresses[0]
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    return runner, f"http://{shown}:{bound[1]}"


def ready_line(url: str, config: EngineConfig) -> str:
    """The one line printed on stdout once serving (tools parse ``url=``)."""
    return f"reference engine ready (a stand-in, not a real engine): url={url} model={config.model}"


async def serve(config: EngineConfig, host: str, port: int, out: TextIO = sys.stdout) -> None:
    """Serve until SIGTERM or SIGINT."""
    runner, url = await start(config, host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handler: Callable[[], None] = stop.set
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, handler)
    print(ready_line(url, config), file=out, flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
