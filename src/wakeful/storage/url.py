"""Choose a store from a URL: `sqlite:///data-dir` (the default's form) or `postgresql://...`."""

from __future__ import annotations

from pathlib import Path

from wakeful.storage.api import Store

__all__ = ["SQLITE_FILE", "check_store_url", "describe_store_url", "sqlite_dir", "store_from_url"]

SQLITE_FILE = "wakeful.sqlite"  # the database file inside a data dir


def check_store_url(url: str) -> str:
    """The backend `url` names (`sqlite` or `postgresql`); ValueError naming the problem."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"store URL {url!r} has no scheme (use sqlite:///DIR or postgresql://...)")
    if scheme == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise ValueError(f"store URL {url!r}: use sqlite:///relative/dir or sqlite:////abs/dir")
        return "sqlite"
    if scheme in ("postgresql", "postgres"):
        try:
            import psycopg_pool  # noqa: F401  # only to tell whether the extra is installed
        except ImportError as e:
            raise ValueError(
                f"store URL {url!r} needs PostgreSQL support: pip install 'wakeful[postgres]'"
            ) from e
        return "postgresql"
    raise ValueError(f"store URL {url!r}: unknown scheme {scheme!r} (sqlite or postgresql)")


def sqlite_dir(url: str) -> Path:
    """The data dir a `sqlite:///DIR` URL names."""
    return Path(url.partition("://")[2][1:])


def store_from_url(url: str) -> Store:
    """The store `url` names; ValueError naming the problem for anything else.

    `sqlite:///DIR` is a data dir relative to the working directory, `sqlite:////DIR` an
    absolute one (SQLAlchemy's convention). `postgresql://` and `postgres://` are libpq URLs
    (the `postgres` extra must be installed).
    """
    if check_store_url(url) == "sqlite":
        from wakeful.storage.sqlite import SqliteStore

        return SqliteStore(sqlite_dir(url) / SQLITE_FILE)
    from wakeful.storage.postgres import PostgresStore

    return PostgresStore(url)


def describe_store_url(url: str) -> str:
    """The URL without a password, for logs."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
