"""A server running the keyed test app (`apps_keyed`), with its trace reader."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.apps_durability import Traces
from tests.e2e.apps_keyed import APP, TRACES_ENV
from tests.support.server import WakefulProcess

Server = tuple[WakefulProcess, Traces]


def serve_keyed(root: Path) -> Server:
    """Start the keyed app under `root` with `--inactivity-timeout 0` (every wait suspends)."""
    (root / "traces").mkdir(exist_ok=True)
    process = WakefulProcess(
        app=APP,
        data_dir=root / "data",
        inactivity_timeout="0",
        env={TRACES_ENV: str(root / "traces")},
    )
    return process.start(), Traces(root / "traces")
