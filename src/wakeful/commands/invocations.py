"""`wakeful invocations …`: list, describe, cancel, kill, purge and resume invocations."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta

import click

from wakeful.commands.client import admin_option, ago, local_time, request
from wakeful.commands.config import DURATION

__all__ = ["invocations"]

_STATUSES = [
    "pending",
    "scheduled",
    "inboxed",
    "running",
    "suspended",
    "backing-off",
    "paused",
    "completed",
]


@click.group(
    epilog="""\b
Examples:
  wakeful invocations list --status suspended --service Approvals --since 1h
  wakeful invocations describe inv_1…
  wakeful invocations cancel inv_1… inv_1…
  WAKEFUL_ADMIN_URL=http://10.0.0.5:9070 wakeful invocations purge inv_1…
"""
)
def invocations() -> None:
    """Inspect and operate invocations through the admin API."""


def _since_ms(text: str) -> int:
    """`--since`: a duration back from now (`1h`, `2d`) or a date/time (`2026-01-31T12:00`)."""
    if re.match(r"^\d{4}-\d{2}-\d{2}", text):
        try:
            return int(datetime.fromisoformat(text).timestamp() * 1000)
        except ValueError as e:
            raise click.BadParameter(f"not a date: {text!r}", param_hint="--since") from e
    delta: timedelta = DURATION.convert(text, None, None)
    return int((time.time() - delta.total_seconds()) * 1000)


@invocations.command(
    "list",
    epilog="""\b
Examples:
  wakeful invocations list
  wakeful invocations list --status paused --json
  wakeful invocations list --service Counter --since 2026-01-31T08:00 --limit 500
""",
)
@click.option("--status", type=click.Choice(_STATUSES), default=None, help="Only this status.")
@click.option("--service", default=None, help="Only invocations of this service.")
@click.option(
    "--since", default=None, help="Only those created since: a duration back (1h, 7d) or a time."
)
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the admin API's JSON.")
@admin_option
def list_invocations(
    status: str | None,
    service: str | None,
    since: str | None,
    limit: int,
    as_json: bool,
    admin: str,
) -> None:
    """List invocations, newest first."""
    params: dict[str, str | int] = {"limit": limit}
    if status:
        params["status"] = status
    if service:
        params["service"] = service
    if since:
        params["since"] = _since_ms(since)
    rows = request("GET", f"{admin}/invocations", params=params).json()["invocations"]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no invocations")
        return
    now = int(time.time() * 1000)
    width = max(len(row["target"]) for row in rows)
    for row in rows:
        created = f"{local_time(row['created_at_ms'])} ({ago(row['created_at_ms'], now)})"
        click.echo(
            f"{row['id']}  {row['status']:<11}  {row['target']:<{width}}  "
            f"attempt {row['attempt']:<3} created {created}"
        )


@invocations.command("describe", epilog="\b\nExample:\n  wakeful invocations describe inv_1…")
@click.argument("invocation_id")
@admin_option
def describe_invocation(invocation_id: str, admin: str) -> None:
    """Show an invocation with its journal (JSON)."""
    click.echo(json.dumps(request("GET", f"{admin}/invocations/{invocation_id}").json(), indent=2))


def _operate(op: str, past: str, help_text: str) -> click.Command:
    @click.command(op, help=help_text, epilog=f"\b\nExample:\n  wakeful invocations {op} inv_1…")
    @click.argument("invocation_ids", metavar="INVOCATION_ID...", nargs=-1, required=True)
    @admin_option
    def command(invocation_ids: tuple[str, ...], admin: str) -> None:
        failed = 0
        for iid in invocation_ids:
            try:
                request("PATCH", f"{admin}/invocations/{iid}/{op}")
            except click.ClickException as e:
                failed += 1
                click.echo(f"{iid}: {e.message}", err=True)
            else:
                click.echo(f"{iid}: {past}")
        if failed:
            raise SystemExit(1)

    return command


for _op, _past, _help in (
    ("cancel", "cancellation requested", "Cancel invocations: each handler gets a TerminalError "
     "(409) at its next await and can compensate."),
    ("kill", "killed", "Kill invocations: they end at once, with no compensation."),
    ("purge", "purged", "Forget completed invocations (their result, journal and id)."),
    ("resume", "resumed", "Resume paused invocations (retries exhausted)."),
):  # fmt: skip
    invocations.add_command(_operate(_op, _past, _help))
