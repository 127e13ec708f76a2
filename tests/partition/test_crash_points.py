"""Kill the server at each named crash point of the leader: a restart loses nothing answered,
and a step body runs twice only where its result was not durable (real `wakeful serve`)."""

from __future__ import annotations

import httpx
import pytest
from tests.partition.apps import APP, TRACES_ENV, runs
from tests.support.server import ServerFactory, WakefulProcess

from wakeful.partition.crashpoints import ENV, POINTS

# The leader passes each point once per batch; a call of Steps/twice takes three or four
# batches, so the crash hits the third call or so, with earlier calls answered.
CRASH_AFTER = 9


def _call(server: WakefulProcess, n: int) -> httpx.Response:
    return httpx.post(
        f"{server.url}/Steps/twice", json=n, headers={"idempotency-key": f"k{n}"}, timeout=10
    )


@pytest.mark.parametrize("point", POINTS)
def test_kill_at_crash_point_loses_nothing_answered(serve: ServerFactory, point: str) -> None:
    """Calls answered before the kill keep their results; the call cut off completes after the
    restart; only its steps may have run twice."""
    server = serve(
        APP, traces_env=TRACES_ENV, inactivity_timeout="1s", env={ENV: f"{point}:{CRASH_AFTER}"}
    )
    answered: dict[int, str] = {}
    cut_off = None
    for n in range(50):
        try:
            answer = _call(server, n)
        except httpx.HTTPError:
            cut_off = n
            break
        assert answer.status_code == 200, answer.text
        answered[n] = answer.json()
    assert cut_off is not None, "the crash point was never reached"
    assert server.process is not None
    assert server.process.wait(10) == -9  # SIGKILL, as a power cut
    assert answered, "the crash came before any call was answered"
    server.process = None
    del server.env[ENV]
    server.start()  # the same data directory, not armed this time
    for n, value in answered.items():
        output = httpx.get(f"{server.url}/restate/invocation/Steps/twice/k{n}/output")
        assert output.status_code == 200, output.text
        assert output.json() == value
    retried = _call(server, cut_off)  # the client retries the call it got no answer for
    assert retried.status_code == 200
    assert retried.json() == f"{cut_off}:ab"
    counts = runs(server.traces_dir)
    for n in answered:
        assert counts[(n, "a")] == 1
        assert counts[(n, "b")] == 1
    assert 1 <= counts[(cut_off, "a")] <= 2
    assert 1 <= counts[(cut_off, "b")] <= 2
