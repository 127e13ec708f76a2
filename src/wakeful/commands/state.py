"""`wakeful state …`: read the state of a virtual object or workflow key."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import click

from wakeful.commands.client import admin_option, request

__all__ = ["state"]


@click.group(
    epilog="""\b
Examples:
  wakeful state list Counter alice
  wakeful state get Counter alice
  wakeful state get Counter alice total
"""
)
def state() -> None:
    """Read the state of a virtual object or workflow key."""


def _load(admin: str, service: str, key: str) -> list[dict[str, Any]]:
    url = f"{admin}/state/{quote(service, safe='')}/{quote(key, safe='')}"
    entries: list[dict[str, Any]] = request("GET", url).json()["state"]
    return entries


@state.command("list", epilog="\b\nExample:\n  wakeful state list Counter alice")
@click.argument("service", metavar="OBJECT")
@click.argument("key")
@admin_option
def list_state(service: str, key: str, admin: str) -> None:
    """The names of the state entries of OBJECT's KEY, with their sizes."""
    entries = _load(admin, service, key)
    if not entries:
        click.echo("no state")
    for entry in entries:
        click.echo(f"{entry['name']}  {entry['size']} bytes")


@state.command("get", epilog="\b\nExample:\n  wakeful state get Counter alice total")
@click.argument("service", metavar="OBJECT")
@click.argument("key")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the admin API's JSON.")
@admin_option
def get_state(service: str, key: str, name: str | None, as_json: bool, admin: str) -> None:
    """The values of OBJECT's KEY (all of them, or the entry NAME)."""
    entries = _load(admin, service, key)
    if name is not None:
        entries = [e for e in entries if e["name"] == name]
        if not entries:
            raise click.ClickException(f"{service}/{key} has no state entry {name!r}")
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    for entry in entries:
        value = entry.get("value")
        shown = value if value is not None else f"(binary, base64) {entry['value_base64']}"
        click.echo(shown if name is not None else f"{entry['name']} = {shown}")
