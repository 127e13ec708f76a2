"""`wakeful cluster`: the processes sharing a PostgreSQL store, and who leads each partition."""

from __future__ import annotations

import json

import click

from wakeful.commands.client import admin_option, request

__all__ = ["cluster"]


@click.command("cluster", epilog="\b\nExamples:\n  wakeful cluster\n  wakeful cluster --json")
@admin_option
@click.option("--json", "as_json", is_flag=True, help="Print the admin API's JSON.")
def cluster(admin: str, as_json: bool) -> None:
    """Show the processes sharing a PostgreSQL store, and who leads each partition."""
    view = request("GET", f"{admin}/cluster").json()
    if as_json:
        click.echo(json.dumps(view, indent=2))
        return
    click.echo(f"processes (lease {view['leaseTtlMs']} ms):")
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
