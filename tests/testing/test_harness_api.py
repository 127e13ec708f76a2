"""restate-sdk's harness API runs in process, and the pytest plugin's `wakeful_env` factory."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from tests.testing.apps import app, three_days

import wakeful as restate
from wakeful.testing import TestEnvironment

greeter = restate.Service("greeter")


@greeter.handler()
async def greet(ctx: restate.Context, name: str) -> str:
    """Greets `name`."""
    return f"Hello {name}!"


async def test_create_test_harness_serves_the_app() -> None:
    """`create_test_harness` yields ingress and admin URLs and a working client, no Docker."""
    async with restate.create_test_harness(
        restate.app([greeter]), restate_image="ignored:latest"
    ) as harness:
        assert isinstance(harness, restate.HarnessEnvironment)
        assert await harness.client.service_call(greet, arg="Pippo") == "Hello Pippo!"
        assert harness.ingress_url.startswith("http://127.0.0.1:")
        assert harness.admin_api_url.startswith("http://127.0.0.1:")


async def test_create_test_harness_with_time_skipping() -> None:
    """wakeful's extra keyword turns on time skipping in restate-sdk's harness."""
    async with restate.create_test_harness(app, time_skipping=True) as harness:
        wall = time.monotonic()
        outcome = await harness.client.service_call(three_days, arg="contract")
        assert outcome == "contract: timed out"
        assert time.monotonic() - wall < 1.0


def test_sync_harness_answers_over_http() -> None:
    """The synchronous `test_harness` runs the engine on a thread; its ingress answers."""
    with restate.test_harness(restate.app([greeter])) as harness:
        with harness.ingress_client() as client:
            response = client.post("/greeter/greet", json="Ada")
        assert response.status_code == 200
        assert response.json() == "Hello Ada!"
        with harness.admin_client() as admin:
            assert admin.get("/health").status_code == 200


async def test_wakeful_env_fixture_makes_and_stops_environments(
    wakeful_env: Callable[..., Awaitable[TestEnvironment]],
) -> None:
    """The pytest plugin's factory starts an environment with `start`'s options."""
    env = await wakeful_env(restate.app([greeter]), time_skipping=False)
    assert await env.client.service_call(greet, arg="Lin") == "Hello Lin!"
    assert not env.time_skipping
