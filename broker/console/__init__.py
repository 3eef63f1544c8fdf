"""`broker console`: the requester's local web app (jobs, objects, review queue, workers, experiments)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn

from broker.console.app import Console, ConsoleConfig, create_app

STARTUP_TIMEOUT_SECONDS = 10.0


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the server starts, so port 0 can print the port it got."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def url_of(host: str, port: int, token: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/?token={token}"


def serve(config: ConsoleConfig, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """Serve in the foreground until interrupted; `on_ready` gets the URL with the access token."""
    app, _ = create_app(config)
    sock = bind(host, port)
    on_ready(url_of(host, sock.getsockname()[1], config.token))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    server.run(sockets=[sock])


@dataclass
class RunningConsole:
    url: str  # with the access token
    base_url: str
    console: Console
    _server: Any
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def start_in_thread(config: ConsoleConfig, host: str = "127.0.0.1") -> RunningConsole:
    """The console on a free port in a daemon thread (tests, and anything embedding it)."""
    app, console = create_app(config)
    sock = bind(host, 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="console-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the console did not start on {host}:{port}")
        time.sleep(0.01)
    return RunningConsole(url_of(host, port, config.token), f"http://{host}:{port}", console, server, thread)


__all__ = ["ConsoleConfig", "RunningConsole", "create_app", "serve", "start_in_thread"]
