"""What every test module shares: one factory for real `wakeful serve` processes.

```
@pytest.fixture(scope="module")
def server(serve_module: ServerFactory) -> WakefulProcess:
    return serve_module(APP, traces_env=TRACES_ENV)  # started; stopped after the module


def test_crash(serve: ServerFactory) -> None:
    process = serve(APP, traces_env=TRACES_ENV)  # started; killed after the test
    process.kill()
    process.start()  # the same data directory and ports
```

Each server gets its own directory (`data/` for its store, `traces/` for what its handlers
write, named to them by the `traces_env` variable) and free ports.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The repository root, so that `tests.…` imports work however pytest was started.
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.support.server import ServerFactory  # noqa: E402 - needs the sys.path entry above


@pytest.fixture(scope="module")
def serve_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    """Servers shared by a module's tests; stopped gracefully after the module."""
    factory = ServerFactory(tmp_path_factory.mktemp)
    yield factory
    factory.close(kill=False)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServerFactory]:
    """Servers of one test (to kill -9 and restart at will); killed after the test."""
    made = iter(range(1_000))
    factory = ServerFactory(lambda name: tmp_path / f"{name}-{next(made)}")
    yield factory
    factory.close(kill=True)
