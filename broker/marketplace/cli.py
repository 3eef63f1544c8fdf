"""`broker marketplace ...`: serve the embedded marketplace, run the simulated crowd."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8765, help="Port to listen on (0 = any free port)."),
    db: str = typer.Option("marketplace.sqlite3", "--db", help="SQLite file holding the marketplace's state."),
    access_key_id: str = typer.Option(
        "AKIALOCALMARKETPLACE", envvar="MARKETPLACE_ACCESS_KEY_ID", help="Access key id requesters sign with."
    ),
    secret_access_key: str = typer.Option(
        "local-marketplace-secret", envvar="MARKETPLACE_SECRET_ACCESS_KEY", help="Secret key requesters sign with."
    ),
    files_root: list[str] = typer.Option(
        [], "--files-root", help="Directory whose files the worker site may serve (repeatable)."
    ),
    balance: str = typer.Option("10000.00", help="Starting account balance in USD (used when the DB is new)."),
    time_scale: float = typer.Option(1.0, help="Run the marketplace clock this many times faster than wall time."),
    requester_name: str = typer.Option("Local Requester", help="Requester name workers see."),
    throttle_probability: float = typer.Option(0.0, help="Probability a requester call gets ThrottlingException."),
    unavailable_probability: float = typer.Option(0.0, help="Probability a requester call gets HTTP 503."),
    latency: float = typer.Option(0.0, help="Seconds added to every requester call."),
    drop_notification_probability: float = typer.Option(0.0, help="Probability an event notification is dropped."),
    fault_seed: int | None = typer.Option(None, help="Seed of the fault injector (reproducible faults)."),
    rate_limit: float | None = typer.Option(
        None,
        "--rate-limit",
        help="Requester calls per second per access key; beyond it, ThrottlingException (as MTurk).",
    ),
    notification_endpoint_url: str | None = typer.Option(
        None, help="SQS/SNS endpoint for notifications (default: taken from the queue URL)."
    ),
    worker_history: str | None = typer.Option(
        None,
        "--worker-history",
        help="For simulated crowds: each new account gets a work history from this distribution, e.g. "
        '"approved=1000:1.5,approval=95-100" (approved HITs log-normal: median, log-sd; approval %% uniform), '
        "so approved-count and approval-rate requirements can be met. Off by default, as on MTurk.",
    ),
    invite_only: bool = typer.Option(
        False, "--invite-only", help="Sign-up only with a team invite (a private workforce's site)."
    ),
    public_url: str | None = typer.Option(
        None, "--public-url", help="The site's address for workers (e.g. behind a TLS proxy); invite links use it."
    ),
    forwarded_allow_ips: str = typer.Option(
        "127.0.0.1,::1",
        "--forwarded-allow-ips",
        help="Comma-separated proxy addresses or networks whose X-Forwarded-* headers are believed ('*': any).",
    ),
) -> None:
    """Serve the requester API and the worker site on one port until interrupted."""
    # heavy: the server (starlette, uvicorn) takes ~0.4 s to import; every other `broker` command skips it
    from pydantic import ValidationError

    from broker.marketplace.config import FaultConfig, MarketplaceConfig
    from broker.marketplace.fees import parse_usd_cents
    from broker.marketplace.server import serve_forever

    try:
        balance_cents = parse_usd_cents(balance.lstrip("$"))
        config = MarketplaceConfig(
            db_path=db,
            host=host,
            port=port,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            initial_balance_cents=balance_cents,
            file_roots=files_root,
            time_scale=time_scale,
            requester_name=requester_name,
            invite_only=invite_only,
            worker_history=worker_history,
            public_url=public_url,
            forwarded_allow_ips=[entry.strip() for entry in forwarded_allow_ips.split(",") if entry.strip()],
            faults=FaultConfig(
                throttle_probability=throttle_probability,
                unavailable_probability=unavailable_probability,
                latency_seconds=latency,
                drop_notification_probability=drop_notification_probability,
                seed=fault_seed,
                rate_limit_per_second=rate_limit,
            ),
        )
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        raise typer.BadParameter(str(first["msg"]).removeprefix("Value error, ")) from None
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error

    def announce(url: str) -> None:
        typer.echo(f"Requester API (boto3 endpoint_url): {url}")
        typer.echo(f"Worker site:                        {url}/")
        if config.public_url:
            typer.echo(f"Worker site (public):               {config.public_url}/")
        typer.echo(f"Region:                             {config.region}")
        typer.echo(f"AWS_ACCESS_KEY_ID={config.access_key_id}")
        typer.echo(f"AWS_SECRET_ACCESS_KEY={config.secret_access_key}")
        typer.echo(f"State:                              {db}")

    serve_forever(config, notification_endpoint_url, on_ready=announce)


from broker.marketplace.crowd.cli import crowd  # noqa: E402

app.command("crowd")(crowd)
