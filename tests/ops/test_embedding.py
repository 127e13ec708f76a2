"""The engine mounted in a FastAPI app (`examples/fastapi_webhook.py`), run by uvicorn as a real
process: a webhook of the app resolves the awakeable a checkout waits for, across a kill -9."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from tests.e2e.apps_durability import wait_until
from tests.support.server import free_port

EXAMPLES = Path(__file__).parents[2] / "examples"


@contextmanager
def _uvicorn(root: Path, port: int) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """`uvicorn fastapi_webhook:api` on `port` with its data under `root`; yields the process
    and its log file, and stops it (SIGTERM) afterwards unless the test already did."""
    log = root / f"uvicorn-{time.time_ns()}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", str(EXAMPLES), "fastapi_webhook:api",
             "--port", str(port), "--lifespan", "on"],
            env={**os.environ, "CHECKOUT_DATA_DIR": str(root / "data")},
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/wakeful/restate/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield process, log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(15)


def _callback_ref(log: Path, order: str) -> str:
    pattern = re.compile(rf"payment requested for order {order} \(\d+\); callback ref (\S+)")
    return wait_until(
        lambda: (m := pattern.search(log.read_text())) and m.group(1), 10, "the payment request"
    )


def test_webhook_resolves_the_awakeable_in_process(tmp_path: Path) -> None:
    """An order waits for the webhook; paid resolves it, declined fails it with 402; the admin
    API answers under the mount; a kill -9 between order and webhook changes nothing."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with _uvicorn(tmp_path, port) as (process, log):
        paid = httpx.post(f"{url}/orders", json={"id": "o-1", "amount": 42}, timeout=10)
        assert paid.status_code == 200, paid.text
        paid_id = paid.json()["invocationId"]
        paid_ref = _callback_ref(log, "o-1")
        declined = httpx.post(f"{url}/orders", json={"id": "o-2", "amount": 7}, timeout=10)
        declined_id = declined.json()["invocationId"]
        declined_ref = _callback_ref(log, "o-2")
        listed = httpx.get(f"{url}/wakeful/admin/invocations", timeout=5).json()["invocations"]
        assert {paid_id, declined_id} <= {row["id"] for row in listed}
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    with _uvicorn(tmp_path, port) as (process, log):
        for ref, status in ((paid_ref, "paid"), (declined_ref, "declined")):
            hook = httpx.post(
                f"{url}/webhooks/payments", json={"ref": ref, "status": status}, timeout=10
            )
            assert hook.status_code == 200, hook.text
        assert httpx.get(f"{url}/orders/{paid_id}", timeout=10).json() == "o-1: paid 42"
        failed = httpx.get(f"{url}/orders/{declined_id}", timeout=10)
        assert failed.status_code == 402
        assert failed.json()["detail"] == "payment declined"
        # Restate's ingress answers under the mount point too.
        output = httpx.get(f"{url}/wakeful/restate/invocation/{paid_id}/output", timeout=5)
        assert output.json() == "o-1: paid 42"
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it got
    text = log.read_text()
    assert "wakeful engine started in-process" in text
    assert "Application shutdown complete" in text  # the lifespan stopped the engine
