"""Running the marketplace: one uvicorn server (requester API + worker site) in a thread or in front."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import boto3
import uvicorn
from botocore.config import Config as BotoConfig

from broker.marketplace.app import create_app
from broker.marketplace.config import MarketplaceConfig
from broker.marketplace.faults import FaultInjector
from broker.marketplace.forwarding import ForwardedHeaders
from broker.marketplace.notifications import AwsNotifier
from broker.marketplace.state import Marketplace

STARTUP_TIMEOUT_SECONDS = 30.0


@dataclass
class RunningMarketplace:
    """A started marketplace: where to reach it, the keys to use, and the in-process state."""

    endpoint_url: str
    worker_site_url: str
    access_key_id: str
    secret_access_key: str
    region: str
    marketplace: Marketplace
    notifier: AwsNotifier
    faults: FaultInjector
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def client(self, **config: Any) -> Any:
        """A boto3 `mturk` client for this marketplace (botocore Config kwargs optional)."""
        return boto3.client(
            "mturk",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=BotoConfig(**config) if config else None,
        )

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=STARTUP_TIMEOUT_SECONDS)
        self.notifier.close()
        self.marketplace.close()

    def __enter__(self) -> RunningMarketplace:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind first so port 0 gives a known free port before uvicorn starts."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this; without it uvicorn's separate header/body writes meet the
    # client's delayed ACK and every call takes ~40 ms.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)  # connections queue from now on, even before uvicorn runs
    sock.set_inheritable(True)
    return sock


def build(
    config: MarketplaceConfig, notification_endpoint_url: str | None = None
) -> tuple[Marketplace, AwsNotifier, FaultInjector, Any]:
    notifier = AwsNotifier(config, endpoint_url=notification_endpoint_url)
    marketplace = Marketplace(config, notifier=notifier)
    faults = FaultInjector(config.faults)
    return marketplace, notifier, faults, create_app(marketplace, config, faults)


def uvicorn_config(app: Any, config: MarketplaceConfig, **options: Any) -> uvicorn.Config:
    """uvicorn's settings: forwarded headers are read by ForwardedHeaders (proxy Host too), not uvicorn."""
    return uvicorn.Config(
        ForwardedHeaders(app, config.forwarded_allow_ips), proxy_headers=False, lifespan="off", **options
    )


def url_for(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def start_in_thread(config: MarketplaceConfig, notification_endpoint_url: str | None = None) -> RunningMarketplace:
    """Start the marketplace on config.host:config.port (0 = a free port) in a daemon thread."""
    marketplace, notifier, faults, app = build(config, notification_endpoint_url)
    sock = bind_socket(config.host, config.port)
    port = sock.getsockname()[1]
    url = url_for(config.host, port)
    marketplace.public_url = url
    server = uvicorn.Server(uvicorn_config(app, config, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="marketplace-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the marketplace server did not start on {url}")
        time.sleep(0.01)
    return RunningMarketplace(
        endpoint_url=url,
        worker_site_url=url,
        access_key_id=config.access_key_id,
        secret_access_key=config.secret_access_key,
        region=config.region,
        marketplace=marketplace,
        notifier=notifier,
        faults=faults,
        _server=server,
        _thread=thread,
    )


def serve_forever(
    config: MarketplaceConfig, notification_endpoint_url: str | None = None, on_ready: Any = None
) -> None:
    """Run in the foreground until interrupted (the `serve` command)."""
    marketplace, notifier, _, app = build(config, notification_endpoint_url)
    sock = bind_socket(config.host, config.port)
    url = url_for(config.host, sock.getsockname()[1])
    marketplace.public_url = url
    if on_ready is not None:
        on_ready(url)
    server = uvicorn.Server(uvicorn_config(app, config, log_level="info"))
    try:
        server.run(sockets=[sock])
    finally:
        notifier.close()
        marketplace.close()
