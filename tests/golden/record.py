"""Record the golden journals again: `.venv/bin/python -m tests.golden.record`.

Serves `tests/golden/apps.py` with a real `wakeful serve` (inactivity timeout 0, so every await
suspends and the journals are built across several attempts), drives one scenario per golden
journal over HTTP, then reads the journals from the server's data directory and writes them as
`tests/golden/<name>.json`. Review the diff before committing: a changed journal means a
changed recording, which replays of invocations already stored would reject.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from tests.golden.apps import APP, OUTBOX_ENV
from tests.golden.codec import to_json
from tests.support.server import WakefulProcess

from wakeful.journal.ids import InvocationId
from wakeful.storage.sqlite import SqliteStore

HERE = Path(__file__).resolve().parent


def _wait(probe: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := probe()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"waiting for {what}")
        time.sleep(0.05)
    return found


def _call(proc: WakefulProcess, path: str, body: Any) -> str:
    response = httpx.post(f"{proc.url}/{path}", json=body, timeout=20)
    response.raise_for_status()
    return response.headers["x-restate-id"]


def _send(proc: WakefulProcess, path: str, body: Any) -> str:
    response = httpx.post(f"{proc.url}/{path}/send", json=body, timeout=20)
    response.raise_for_status()
    return str(response.json()["invocationId"])


def _attach(proc: WakefulProcess, iid: str) -> None:
    response = httpx.get(f"{proc.url}/restate/invocation/{iid}/attach", timeout=20)
    response.raise_for_status()


def _status(proc: WakefulProcess, iid: str) -> str:
    response = httpx.get(f"{proc.admin_url}/invocations/{iid}", timeout=10)
    return str(response.json()["status"])


def scenarios(proc: WakefulProcess, outbox: Path) -> dict[str, tuple[str, str, str, str | None]]:
    """Run every scenario; return name -> (invocation id, service, handler, key)."""
    found: dict[str, tuple[str, str, str, str | None]] = {}

    iid = _send(proc, "Golden/approval", "doc-1")
    awakeable = _wait(lambda: (outbox / iid).exists() and (outbox / iid).read_text(), "awakeable")
    _wait(lambda: _status(proc, iid) == "suspended", "approval to suspend")
    resolved = httpx.post(f"{proc.url}/restate/awakeables/{awakeable}/resolve", json="approved")
    resolved.raise_for_status()
    _attach(proc, iid)
    found["approval"] = (iid, "Golden", "approval", None)

    found["cart_first"] = (_call(proc, "GoldenCart/alice/checkout", "apple"), "GoldenCart",
                           "checkout", "alice")  # fmt: skip
    found["cart_second"] = (_call(proc, "GoldenCart/alice/checkout", "pear"), "GoldenCart",
                            "checkout", "alice")  # fmt: skip
    found["cart_empty"] = (_call(proc, "GoldenCart/alice/empty", None), "GoldenCart", "empty",
                           "alice")  # fmt: skip

    iid = _send(proc, "GoldenFlow/order-1/run", "order-1")
    _wait(lambda: _status(proc, iid) == "suspended", "the workflow to suspend")
    _call(proc, "GoldenFlow/order-1/approve", "yes")
    _attach(proc, iid)
    found["workflow"] = (iid, "GoldenFlow", "run", "order-1")
    return found


async def _journals(db: Path, ids: dict[str, str]) -> dict[str, list[Any]]:
    store = SqliteStore(db)
    await store.open()
    try:
        return {
            name: [to_json(e) for e in await store.load_journal(InvocationId.parse(iid))]
            for name, iid in ids.items()
        }
    finally:
        await store.close()


def main() -> None:
    """Record every scenario and write its golden file."""
    with tempfile.TemporaryDirectory() as tmp:
        outbox = Path(tmp) / "outbox"
        outbox.mkdir()
        proc = WakefulProcess(APP, Path(tmp) / "data", "0", env={OUTBOX_ENV: str(outbox)})
        proc.start()
        try:
            found = scenarios(proc, outbox)
        finally:
            proc.stop()
        ids = {name: iid for name, (iid, *_) in found.items()}
        journals = asyncio.run(_journals(Path(tmp) / "data" / "wakeful.sqlite", ids))
    for name, (iid, service, handler, key) in found.items():
        golden = {
            "invocation_id": iid,
            "target": {"service": service, "handler": handler, "key": key},
            "journal": journals[name],
        }
        path = HERE / f"{name}.json"
        path.write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {path.name}: {len(journals[name])} entries")


if __name__ == "__main__":
    main()
