"""The `wakeful` command: serve an application; inspect invocations; complete awakeables."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import logging
import re
import sys
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from wakeful.sdk.app import App

if TYPE_CHECKING:
    import httpx

__all__ = ["load_app", "main"]


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
    if not isinstance(found, App):
        raise click.BadParameter(
            f"{spec}: {name!r} is not an application made with wakeful.app(services=[...])",
            param_hint="APP",
        )
    return found


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_duration(text: str) -> timedelta:
    """`500ms`, `2s`, `1m`, `1h` or plain seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise click.BadParameter(f"not a duration: {text!r} (use e.g. 500ms, 2s, 1m, 1h)")
    value, unit = float(match.group(1)), match.group(2) or "s"
    factor = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return timedelta(seconds=value * factor)


def _ms(value: timedelta) -> int:
    return int(value.total_seconds() * 1000)


@click.group()
@click.version_option(package_name="wakeful")
def main() -> None:
    """wakeful: durable execution built around waiting for the outside world."""


@main.command()
@click.argument("app_spec", metavar="[FILE_OR_MODULE:APP]", required=False)
@click.option("--data-dir", default=".wakeful", show_default=True, help="Where SQLite lives.")
@click.option(
    "--store",
    envvar="WAKEFUL_STORE",
    default=None,
    help="Storage URL: sqlite:///DIR (same as --data-dir DIR) or postgresql://user@host/db "
    "(several processes may share one database). Env: WAKEFUL_STORE.",
)
@click.option(
    "--lease-ttl",
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
    default="1s",
    show_default=True,
    help="How long a waiting handler stays in memory before it suspends (0 = at once).",
)
@click.option(
    "--blocked-loop-threshold",
    default="2s",
    show_default=True,
    help="Log the handler that blocks the event loop longer than this (0 = never check).",
)
@click.option("--retention", default="24h", show_default=True, help="Completed results kept.")
@click.option("--retry-initial-interval", default="500ms", show_default=True)
@click.option("--retry-factor", default=2.0, show_default=True)
@click.option("--retry-max-interval", default="1m", show_default=True)
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
@click.option("--log-level", default="info", show_default=True)
def serve(
    app_spec: str | None,
    data_dir: str,
    store: str | None,
    lease_ttl: str,
    advertise_host: str | None,
    host: str,
    port: int,
    admin_port: int,
    inactivity_timeout: str,
    blocked_loop_threshold: str,
    retention: str,
    retry_initial_interval: str,
    retry_factor: float,
    retry_max_interval: str,
    retry_max_attempts: int,
    retry_on_max_attempts: str,
    max_body_size: int,
    admin_host: str,
    admin_token: str | None,
    completion_token: str | None,
    link_secrets: tuple[str, ...],
    public_url: str | None,
    log_level: str,
) -> None:
    """Run an application: ingress, admin API, and the engine on SQLite.

    Without an application it is a pure server, like restate-server: register remote
    deployments with `POST /deployments` on the admin port.
    """
    # Imported here so that the other commands start without loading the server.
    from wakeful.engine.model import RetryPolicy
    from wakeful.server.datadir import DataDirError
    from wakeful.server.runtime import RuntimeSettings
    from wakeful.server.serve import ServeOptions
    from wakeful.server.serve import serve as run_server

    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    if app_spec is None:
        from wakeful.sdk.app import App

        application = App()
    else:
        application = load_app(app_spec)
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
        inactivity_timeout=parse_duration(inactivity_timeout),
        blocked_loop_threshold=parse_duration(blocked_loop_threshold),
        completion_retention=parse_duration(retention),
        retry_policy=RetryPolicy(
            initial_interval_ms=_ms(parse_duration(retry_initial_interval)),
            factor=retry_factor,
            max_interval_ms=_ms(parse_duration(retry_max_interval)),
            max_attempts=retry_max_attempts,
            on_max_attempts=retry_on_max_attempts,
        ),
    )
    options = ServeOptions(
        host=host,
        port=port,
        admin_port=admin_port,
        body_limit=max_body_size,
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
        ttl = parse_duration(lease_ttl)
        cluster = ClusterSettings(lease_ttl=ttl, renew_interval=min(ttl / 6, timedelta(seconds=1)))
        main_coroutine = serve_cluster(application, settings, options, cluster, advertise_host)
    try:
        run(main_coroutine)
    except DataDirError as e:
        raise click.ClickException(str(e)) from None


def _request(method: str, url: str, **kwargs: Any) -> httpx.Response:
    import httpx  # only the client commands need it

    try:
        response = httpx.request(method, url, timeout=30, **kwargs)
    except httpx.HTTPError as e:
        raise click.ClickException(f"{url}: {e}") from e
    if response.status_code >= 400:
        raise click.ClickException(f"HTTP {response.status_code}: {response.text}")
    return response


@main.group()
def awakeables() -> None:
    """List and complete awakeables."""


def _list_waits(kind: str, status: str, service: str | None, limit: int, admin: str) -> None:
    params: dict[str, str | int] = {"status": status, "limit": limit}
    if service:
        params["service"] = service
    rows = _request("GET", f"{admin}/{kind}", params=params).json()[kind]
    for row in rows:
        deadline = f"  until {row['deadline']}" if row["deadline"] else ""
        description = f"  {row['description']}" if row["description"] else ""
        click.echo(f"{row['id']}  {row['target']}  {row['created_at']}{deadline}{description}")


_WAIT_STATUS = click.Choice(["pending", "completed", "closed"])


@awakeables.command("list")
@click.option("--status", type=_WAIT_STATUS, default="pending", show_default=True)
@click.option("--service", default=None, help="Only this service's awakeables.")
@click.option("--limit", default=100, show_default=True)
@click.option("--admin", default="http://127.0.0.1:9070", show_default=True)
def list_awakeables(status: str, service: str | None, limit: int, admin: str) -> None:
    """List awakeables (pending by default), newest first."""
    _list_waits("awakeables", status, service, limit, admin)


@main.group()
def promises() -> None:
    """List awaited workflow promises."""


@promises.command("list")
@click.option("--status", type=_WAIT_STATUS, default="pending", show_default=True)
@click.option("--service", default=None, help="Only this workflow's promises.")
@click.option("--limit", default=100, show_default=True)
@click.option("--admin", default="http://127.0.0.1:9070", show_default=True)
def list_promises(status: str, service: str | None, limit: int, admin: str) -> None:
    """List awaited workflow promises (pending by default), newest first."""
    _list_waits("promises", status, service, limit, admin)


@awakeables.command("resolve")
@click.argument("awakeable_id")
@click.argument("value", default="null")
@click.option("--ingress", default="http://127.0.0.1:8080", show_default=True)
def resolve_awakeable(awakeable_id: str, value: str, ingress: str) -> None:
    """Resolve AWAKEABLE_ID with VALUE (JSON)."""
    try:
        json.loads(value)
    except ValueError as e:
        raise click.BadParameter(f"VALUE must be JSON: {e}") from e
    _request(
        "POST",
        f"{ingress}/restate/awakeables/{awakeable_id}/resolve",
        content=value.encode(),
        headers={"content-type": "application/json"},
    )
    click.echo("resolved")


@awakeables.command("reject")
@click.argument("awakeable_id")
@click.argument("message")
@click.option("--ingress", default="http://127.0.0.1:8080", show_default=True)
def reject_awakeable(awakeable_id: str, message: str, ingress: str) -> None:
    """Reject AWAKEABLE_ID with MESSAGE."""
    _request(
        "POST",
        f"{ingress}/restate/awakeables/{awakeable_id}/reject",
        content=message.encode(),
        headers={"content-type": "text/plain"},
    )
    click.echo("rejected")


@main.group()
def invocations() -> None:
    """Inspect and manage invocations."""


@invocations.command("list")
@click.option("--status", default=None, help="running, suspended, backing-off, paused, completed")
@click.option("--admin", default="http://127.0.0.1:9070", show_default=True)
def list_invocations(status: str | None, admin: str) -> None:
    """List invocations."""
    params = {"status": status} if status else {}
    rows = _request("GET", f"{admin}/invocations", params=params).json()["invocations"]
    for row in rows:
        click.echo(f"{row['id']}  {row['status']:<12} {row['target']}")


@invocations.command("describe")
@click.argument("invocation_id")
@click.option("--admin", default="http://127.0.0.1:9070", show_default=True)
def describe_invocation(invocation_id: str, admin: str) -> None:
    """Show an invocation with its journal."""
    click.echo(json.dumps(_request("GET", f"{admin}/invocations/{invocation_id}").json(), indent=2))


@invocations.command("resume")
@click.argument("invocation_id")
@click.option("--admin", default="http://127.0.0.1:9070", show_default=True)
def resume_invocation(invocation_id: str, admin: str) -> None:
    """Resume a paused invocation."""
    _request("PATCH", f"{admin}/invocations/{invocation_id}/resume")
    click.echo("resumed")


@main.command("cluster")
@click.option("--admin", default="http://127.0.0.1:9070", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the admin API's JSON.")
def show_cluster(admin: str, as_json: bool) -> None:
    """Show the processes sharing a PostgreSQL store, and who leads each partition."""
    view = _request("GET", f"{admin}/cluster").json()
    if as_json:
        click.echo(json.dumps(view, indent=2))
        return
    ttl = view["leaseTtlMs"]
    click.echo(f"processes (lease {ttl} ms):")
    for p in view["processes"]:
        state = "leader" if p["leader"] else ("alive" if p["alive"] else "gone")
        click.echo(
            f"  {p['id']:<32} {state:<7} heartbeat {p['heartbeatAgeMs']:>6} ms ago  "
            f"ingress {p['ingressUrl']}  admin {p['adminUrl']}"
        )
    click.echo("partitions:")
    for lease in view["partitions"]:
        click.echo(
            f"  {lease['partition']:>4}  leader {lease['leader'] or '-':<32} "
            f"epoch {lease['epoch']:<5} lease age {lease['leaseAgeMs']} ms"
        )


if __name__ == "__main__":  # `python -m wakeful.cli`
    main()
