"""`wakeful awakeables …`: resolve and reject awakeables through the ingress."""

from __future__ import annotations

import json

import click

from wakeful.commands.client import ingress_option, request

__all__ = ["awakeables"]


@click.group(
    epilog="""\b
Examples:
  wakeful awakeables resolve sign_1… '"Looks good!"'
  wakeful awakeables reject sign_1… 'Insufficient documentation'
"""
)
def awakeables() -> None:
    """Complete awakeables."""


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
        content=message.encode(),
        headers={"content-type": "text/plain"},
    )
    click.echo("rejected")
