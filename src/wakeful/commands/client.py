"""What the operator commands share: the server addresses, HTTP calls, readable times."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    import httpx

__all__ = ["admin_option", "ago", "ingress_option", "local_time", "request"]

F = TypeVar("F", bound=Callable[..., Any])


def admin_option(fn: F) -> F:
    """`--admin URL`, also from WAKEFUL_ADMIN_URL."""
    return click.option(
        "--admin",
        envvar="WAKEFUL_ADMIN_URL",
        show_envvar=True,
        default="http://127.0.0.1:9070",
        show_default=True,
        help="Admin API address.",
    )(fn)


def ingress_option(fn: F) -> F:
    """`--ingress URL`, also from WAKEFUL_INGRESS_URL."""
    return click.option(
        "--ingress",
        envvar="WAKEFUL_INGRESS_URL",
        show_envvar=True,
        default="http://127.0.0.1:8080",
        show_default=True,
        help="Ingress address.",
    )(fn)


def request(
    method: str, url: str, token_env: str = "WAKEFUL_ADMIN_TOKEN", **kwargs: Any
) -> httpx.Response:
    """One HTTP call; a connection failure or an error answer becomes a one-line CLI error.
    The bearer token in the environment variable `token_env`, if set, goes with it (the
    server's `--admin-token` / `--completion-token`)."""
    import httpx  # only the client commands need it; `serve` starts without it

    token = os.environ.get(token_env)
    if token:
        kwargs["headers"] = {"authorization": f"Bearer {token}", **kwargs.get("headers", {})}
    try:
        response = httpx.request(method, url, timeout=30, **kwargs)
    except httpx.HTTPError as e:
        raise click.ClickException(f"{url}: {e}") from e
    if response.status_code >= 400:
        try:
            message = response.json().get("message", response.text)
        except ValueError:
            message = response.text
        raise click.ClickException(f"HTTP {response.status_code}: {message}")
    return response


def local_time(ms: int | None) -> str:
    """A millisecond timestamp as local `YYYY-MM-DD HH:MM:SS`, or `-`."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def ago(ms: int | None, now_ms: int | None = None) -> str:
    """How long ago a millisecond timestamp was: `12s ago`, `5m ago`, `3h ago`, `2d ago`."""
    if ms is None:
        return "-"
    now = int(time.time() * 1000) if now_ms is None else now_ms
    seconds = max(0, (now - ms) // 1000)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"
