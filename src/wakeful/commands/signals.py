"""`wakeful signals …`: resolve and reject an invocation's named signals (ingress)."""

from __future__ import annotations

import json
from urllib.parse import quote

import click

from wakeful.commands.client import ingress_option, request

__all__ = ["signals"]


@click.group(
    epilog="""\b
Examples:
  wakeful signals resolve inv_1… approval '{"ok": true}'
  wakeful signals reject inv_1… approval 'Declined' --code 403
"""
)
def signals() -> None:
    """Complete an invocation's named signals (`ctx.signal(name)`)."""


def _signal_url(ingress: str, invocation_id: str, name: str, verb: str) -> str:
    return f"{ingress}/restate/invocation/{invocation_id}/signals/{quote(name, safe='')}/{verb}"


@signals.command("resolve")
@click.argument("invocation_id")
@click.argument("name")
@click.argument("value", default="null")
@ingress_option
def resolve_signal(invocation_id: str, name: str, value: str, ingress: str) -> None:
    """Resolve signal NAME of INVOCATION_ID with VALUE (JSON; default null)."""
    try:
        json.loads(value)
    except ValueError as e:
        raise click.BadParameter(f"VALUE must be JSON: {e}", param_hint="VALUE") from e
    request(
        "POST",
        _signal_url(ingress, invocation_id, name, "resolve"),
        token_env="WAKEFUL_COMPLETION_TOKEN",
        content=value.encode(),
        headers={"content-type": "application/json"},
    )
    click.echo("resolved")


@signals.command("reject")
@click.argument("invocation_id")
@click.argument("name")
@click.argument("message")
@click.option("--code", default=500, show_default=True, help="The TerminalError's code.")
@ingress_option
def reject_signal(invocation_id: str, name: str, message: str, code: int, ingress: str) -> None:
    """Reject signal NAME of INVOCATION_ID: its awaiter gets TerminalError(MESSAGE, CODE)."""
    request(
        "POST",
        _signal_url(ingress, invocation_id, name, "reject"),
        token_env="WAKEFUL_COMPLETION_TOKEN",
        params={"code": code},
        content=message.encode(),
        headers={"content-type": "text/plain"},
    )
    click.echo("rejected")
