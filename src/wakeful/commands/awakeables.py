"""`wakeful awakeables …` and `wakeful promises …`: list what waits (admin API), resolve and
reject awakeables (ingress)."""

from __future__ import annotations

import json
from typing import Any

import click

from wakeful.commands.client import admin_option, ago, ingress_option, request

__all__ = ["awakeables", "promises"]

_WAIT_STATUS = click.Choice(["pending", "completed", "closed"])


@click.group(
    epilog="""\b
Examples:
  wakeful awakeables list --service Approvals
  wakeful awakeables resolve sign_1… '"Looks good!"'
  wakeful awakeables reject sign_1… 'Insufficient documentation'
"""
)
def awakeables() -> None:
    """List and complete awakeables."""


def _list_waits(
    kind: str, status: str, service: str | None, limit: int, as_json: bool, admin: str
) -> None:
    params: dict[str, str | int] = {"status": status, "limit": limit}
    if service:
        params["service"] = service
    rows = request("GET", f"{admin}/{kind}", params=params).json()[kind]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no {status} {kind}")
    for row in rows:
        created = row.get("created_at") or "-"
        if isinstance(row.get("created_at_ms"), int):
            created = f"{created} ({ago(row['created_at_ms'])})"
        deadline = f"  until {row['deadline']}" if row.get("deadline") else ""
        description = f"  {row['description']}" if row.get("description") else ""
        click.echo(f"{row['id']}  {row['target']}  {created}{deadline}{description}")


def _list_options(fn: Any) -> Any:
    for option in (
        click.option("--status", type=_WAIT_STATUS, default="pending", show_default=True),
        click.option("--service", default=None, help="Only this service's."),
        click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True),
        click.option("--json", "as_json", is_flag=True, help="Print the admin API's JSON."),
        admin_option,
    ):
        fn = option(fn)
    return fn


@awakeables.command(
    "list", epilog="\b\nExample:\n  wakeful awakeables list --status pending --json"
)
@_list_options
def list_awakeables(
    status: str, service: str | None, limit: int, as_json: bool, admin: str
) -> None:
    """List awakeables (pending by default), newest first (admin `GET /awakeables`)."""
    _list_waits("awakeables", status, service, limit, as_json, admin)


@click.group(epilog="\b\nExample:\n  wakeful promises list --service Review")
def promises() -> None:
    """List awaited workflow promises."""


@promises.command("list", epilog="\b\nExample:\n  wakeful promises list --service Review")
@_list_options
def list_promises(status: str, service: str | None, limit: int, as_json: bool, admin: str) -> None:
    """List awaited workflow promises (pending by default), newest first (admin
    `GET /promises`)."""
    _list_waits("promises", status, service, limit, as_json, admin)


@awakeables.command(
    "link",
    epilog="\b\nExamples:\n  wakeful awakeables link sign_1… --expires 7d\n"
    "  wakeful awakeables link Review/doc-7/verdict",
)
@click.argument("awakeable_id")
@click.option("--expires", default="3d", show_default=True, help="How long the link works.")
@admin_option
def link_awakeable(awakeable_id: str, expires: str, admin: str) -> None:
    """Print a signed completion link for AWAKEABLE_ID (or a promise `Workflow/key/name`)."""
    kind = "promises" if "/" in awakeable_id else "awakeables"
    url = f"{admin}/{kind}/{awakeable_id}/links"
    click.echo(request("POST", url, json={"expires_in": expires}).json()["url"])


@awakeables.command(
    "resolve", epilog="\b\nExample:\n  wakeful awakeables resolve sign_1… '{\"ok\": true}'"
)
@click.argument("awakeable_id")
@click.argument("value", default="null")
@ingress_option
def resolve_awakeable(awakeable_id: str, value: str, ingress: str) -> None:
    """Resolve AWAKEABLE_ID with VALUE (JSON; default null)."""
    try:
        json.loads(value)
    except ValueError as e:
        raise click.BadParameter(f"VALUE must be JSON: {e}", param_hint="VALUE") from e
    request(
        "POST",
        f"{ingress}/restate/awakeables/{awakeable_id}/resolve",
        token_env="WAKEFUL_COMPLETION_TOKEN",
        content=value.encode(),
        headers={"content-type": "application/json"},
    )
    click.echo("resolved")


@awakeables.command("reject", epilog="\b\nExample:\n  wakeful awakeables reject sign_1… 'Too late'")
@click.argument("awakeable_id")
@click.argument("message")
@ingress_option
def reject_awakeable(awakeable_id: str, message: str, ingress: str) -> None:
    """Reject AWAKEABLE_ID with MESSAGE (the waiting handler gets a TerminalError)."""
    request(
        "POST",
        f"{ingress}/restate/awakeables/{awakeable_id}/reject",
        token_env="WAKEFUL_COMPLETION_TOKEN",
        content=message.encode(),
        headers={"content-type": "text/plain"},
    )
    click.echo("rejected")
