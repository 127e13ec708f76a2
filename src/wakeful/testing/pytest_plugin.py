"""pytest plugin (registered as `wakeful`): the `wakeful_env` fixture factory.

```python
async def test_approval(wakeful_env):
    env = await wakeful_env(app)              # wakeful.testing.start's options apply
    assert await env.client.service_call(request, arg="x") == "timed out"
```
Every environment made by the factory is stopped when the test ends. Needs pytest-asyncio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from wakeful.sdk.app import App
    from wakeful.testing.env import TestEnvironment

__all__ = ["wakeful_env"]

EnvFactory = Callable[..., Awaitable["TestEnvironment"]]

try:
    import pytest_asyncio
except ImportError:  # the fixture needs an async test runner; without one, say so when used

    @pytest.fixture
    def wakeful_env() -> EnvFactory:
        """Unavailable: install pytest-asyncio."""
        raise pytest.UsageError("the wakeful_env fixture needs pytest-asyncio")

else:

    @pytest_asyncio.fixture
    async def wakeful_env() -> AsyncIterator[EnvFactory]:  # type: ignore[misc]  # one or the other, as installed
        """A factory of in-process test environments, stopped when the test ends."""
        # Imported here: this plugin loads in every pytest run, the engine only when used.
        from wakeful.testing.env import start

        async with AsyncExitStack() as stack:

            async def make(app: App, **options: Any) -> TestEnvironment:
                return await stack.enter_async_context(start(app, **options))

            yield make
