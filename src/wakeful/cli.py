"""The `wakeful` command: serve an application; operate invocations, awakeables, named signals
and state."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import sys
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from wakeful.commands.awakeables import awakeables, promises
from wakeful.commands.cluster import cluster
from wakeful.commands.config import DURATION, ConfiguredCommand, render_config
from wakeful.commands.invocations import invocations
from wakeful.commands.signals import signals
from wakeful.commands.state import state
from wakeful.sdk.app import App, Endpoint

__all__ = ["load_app", "main"]

_SERVE_EXAMPLES = """\b
Examples:
  wakeful serve examples/approvals.py:app
  wakeful serve myapp.services:app --port 8081 --inactivity-timeout 1min
  WAKEFUL_DATA_DIR=/var/lib/wakeful wakeful serve --config /etc/wakeful.toml app.py
  wakeful serve --config wakeful.toml --print-config app.py

\b
A TOML file holds the same options, named as the flags:
  app = "myapp.services:app"
  port = 8080
  inactivity-timeout = "30s"
"""


def load_app(spec: str) -> App:
    """Load `FILE.py:NAME` or `package.module:NAME` (NAME defaults to `app`)."""
    target, _, name = spec.partition(":")
    name = name or "app"
    if target.endswith(".py") or Path(target).is_file():
        path = Path(target).resolve()
        if not path.is_file():
            raise click.BadParameter(f"no such file: {target}", param_hint="APP")
        sys.path.insert(0, str(path.parent))
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        if module_spec is None or module_spec.loader is None:
            raise click.BadParameter(f"cannot load {target}", param_hint="APP")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[path.stem] = module
        module_spec.loader.exec_module(module)
    else:
        sys.path.insert(0, str(Path.cwd()))
        module = importlib.import_module(target)
    found = getattr(module, name, None)
    if isinstance(found, Endpoint):
        found = found.app()
    if not isinstance(found, App):
        raise click.BadParameter(
            f"{spec}: {name!r} is not an application made with wakeful.app(services=[...])",
            param_hint="APP",
        )
    if found.journal_value_codec is not None:
        raise click.BadParameter(
            f"{spec}: journal_value_codec is not supported by wakeful yet (journal values are "
            "stored as the serdes produce them); remove it to serve this app",
            param_hint="APP",
        )
    return found


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Run `wakeful COMMAND --help` for the options and examples of each command.",
)
@click.version_option(package_name="wakeful")
def main() -> None:
    """wakeful: durable execution built around waiting for the outside world."""


@main.command(cls=ConfiguredCommand, epilog=_SERVE_EXAMPLES)
@click.argument("app", metavar="[FILE_OR_MODULE:APP]", required=False)
@click.option("--data-dir", default=".wakeful", show_default=True, help="Where SQLite lives.")
@click.option(
    "--store",
    default=None,
    help="Storage URL: sqlite:///DIR (same as --data-dir DIR) or postgresql://user@host/db "
    "(several processes may share one database).",
)
@click.option(
    "--lease-ttl",
    type=DURATION,
    default="3s",
    show_default=True,
    help="PostgreSQL: how long a leader's lease lasts unrenewed (failover takes about this long).",
)
@click.option(
    "--advertise-host",
    default=None,
    help="PostgreSQL: the host other processes reach this one at (default: --host, or the "
    "host name when listening on all interfaces).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, help="Ingress port.")
@click.option("--admin-port", default=9070, show_default=True, help="Admin API port.")
@click.option(
    "--inactivity-timeout",
    type=DURATION,
    default="1s",
    show_default=True,
    help="How long a waiting handler stays in memory before it suspends (0 = at once).",
)
@click.option(
    "--blocked-loop-threshold",
    type=DURATION,
    default="2s",
    show_default=True,
    help="Log the handler that blocks the event loop longer than this (0 = never check).",
)
@click.option(
    "--retention", type=DURATION, default="24h", show_default=True, help="Completed results kept."
)
@click.option("--retry-initial-interval", type=DURATION, default="500ms", show_default=True)
@click.option("--retry-factor", default=2.0, show_default=True)
@click.option("--retry-max-interval", type=DURATION, default="1m", show_default=True)
@click.option(
    "--retry-max-attempts", default=70, show_default=True, help="Attempts, the first included."
)
@click.option(
    "--retry-on-max-attempts",
    type=click.Choice(["pause", "kill"]),
    default="pause",
    show_default=True,
)
@click.option(
    "--max-body-size", default=32 * 1024 * 1024, show_default=True, help="Request body limit."
)
@click.option(
    "--admin-host",
    default="127.0.0.1",
    show_default=True,
    help="Admin API address (loopback unless you open it on purpose).",
)
@click.option(
    "--admin-token",
    envvar="WAKEFUL_ADMIN_TOKEN",
    default=None,
    help="Require 'Authorization: Bearer TOKEN' on the admin API (env WAKEFUL_ADMIN_TOKEN).",
)
@click.option(
    "--completion-token",
    envvar="WAKEFUL_COMPLETION_TOKEN",
    default=None,
    help="Require 'Authorization: Bearer TOKEN' to complete awakeables by id on the ingress "
    "(env WAKEFUL_COMPLETION_TOKEN); signed links work without it.",
)
@click.option(
    "--link-secret",
    "link_secrets",
    multiple=True,
    envvar="WAKEFUL_LINK_SECRET",
    help="Secret that signs completion links (repeat to rotate: the first signs, all verify; "
    "env WAKEFUL_LINK_SECRET, space-separated). Default: one kept in the data directory.",
)
@click.option(
    "--public-url",
    envvar="WAKEFUL_PUBLIC_URL",
    default=None,
    help="The ingress as people reach it, for completion links (default http://HOST:PORT).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="info",
    show_default=True,
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON object a line.",
)
@click.option("--access-log/--no-access-log", default=False, show_default=True)
@click.option(
    "--shutdown-timeout",
    type=DURATION,
    default="10s",
    show_default=True,
    help="On SIGTERM, how long running attempts get to reach a durable point (a second "
    "SIGTERM exits at once).",
)
@click.option(
    "--print-config",
    is_flag=True,
    help="Print the effective options as TOML (with where each came from) and exit.",
)
def serve(
    app: str | None,
    data_dir: str,
    store: str | None,
    lease_ttl: timedelta,
    advertise_host: str | None,
    host: str,
    port: int,
    admin_port: int,
    inactivity_timeout: timedelta,
    blocked_loop_threshold: timedelta,
    retention: timedelta,
    retry_initial_interval: timedelta,
    retry_factor: float,
    retry_max_interval: timedelta,
    retry_max_attempts: int,
    retry_on_max_attempts: str,
    max_body_size: int,
    admin_host: str,
    admin_token: str | None,
    completion_token: str | None,
    link_secrets: tuple[str, ...],
    public_url: str | None,
    log_level: str,
    log_format: str,
    access_log: bool,
    shutdown_timeout: timedelta,
    print_config: bool,
) -> None:
    """Run an application: ingress, admin API, and the engine on SQLite (or PostgreSQL).

    Without an application it is a pure server, like restate-server: register remote
    deployments with `POST /deployments` on the admin port.

    Every option can also be set by an environment variable named after it (shown below) or
    by a key in the TOML file given to --config; a flag wins over the environment, which wins
    over the file.
    """
    ctx = click.get_current_context()
    if print_config:
        click.echo(render_config(ctx, ctx.params))
        return
    # Imported here so that the other commands start without loading the server.
    from wakeful.engine.model import RetryPolicy
    from wakeful.server.datadir import DataDirError
    from wakeful.server.logs import configure_logging
    from wakeful.server.runtime import RuntimeSettings
    from wakeful.server.serve import ServeOptions
    from wakeful.server.serve import serve as run_server

    configure_logging(log_level, log_format, access_log)
    if app is None:
        from wakeful.sdk.app import App

        application = App()
    else:
        application = load_app(app)
    backend = "sqlite"
    if store is not None:
        from wakeful.storage.url import check_store_url, sqlite_dir

        try:
            backend = check_store_url(store)  # a bad URL is a usage error, before anything starts
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--store") from e
    settings = RuntimeSettings(
        # sqlite:///DIR is --data-dir DIR: the database, the lock and local files all there
        data_dir=sqlite_dir(store) if store and backend == "sqlite" else Path(data_dir),
        store_url=store if backend == "postgresql" else None,
        inactivity_timeout=inactivity_timeout,
        blocked_loop_threshold=blocked_loop_threshold,
        completion_retention=retention,
        retry_policy=RetryPolicy(
            initial_interval_ms=_ms(retry_initial_interval),
            factor=retry_factor,
            max_interval_ms=_ms(retry_max_interval),
            max_attempts=retry_max_attempts,
            on_max_attempts=retry_on_max_attempts,
        ),
    )
    options = ServeOptions(
        host=host,
        port=port,
        admin_port=admin_port,
        body_limit=max_body_size,
        access_log=access_log,
        shutdown_timeout=shutdown_timeout.total_seconds(),
        admin_host=admin_host,
        admin_token=admin_token,
        completion_token=completion_token,
        link_secrets=link_secrets,
        public_url=public_url,
    )
    try:
        import uvloop

        run: Callable[[Coroutine[Any, Any, None]], None] = uvloop.run
    except ImportError:  # pragma: no cover
        run = asyncio.run
    main_coroutine = run_server(application, settings, options)
    if backend == "postgresql":
        from wakeful.cluster.node import ClusterSettings
        from wakeful.cluster.serve import serve_cluster

        main_coroutine.close()  # one process of a cluster instead
        cluster = ClusterSettings(
            lease_ttl=lease_ttl, renew_interval=min(lease_ttl / 6, timedelta(seconds=1))
        )
        main_coroutine = serve_cluster(application, settings, options, cluster, advertise_host)
    try:
        run(main_coroutine)
    except DataDirError as e:
        raise click.ClickException(str(e)) from None


def _ms(value: timedelta) -> int:
    return int(value.total_seconds() * 1000)


for _group in (invocations, awakeables, promises, signals, state, cluster):
    main.add_command(_group)


if __name__ == "__main__":  # `python -m wakeful.cli`
    main()
