"""restate-sdk names that concern reverse connections to a Restate server and journal codecs.

They exist so that modules written for restate-sdk import unchanged; using them raises a
`NotImplementedError` that says what to do instead.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, NoReturn

__all__ = [
    "ConnectError",
    "JournalValueCodec",
    "JournalValueCodecProvider",
    "connect",
    "with_connection",
]


class JournalValueCodec(abc.ABC):
    """Encodes journal values (e.g. encryption at rest); not applied by wakeful yet."""

    @abc.abstractmethod
    def encode(self, buf: bytes) -> bytes:
        """Encode a value before it is journaled."""

    @abc.abstractmethod
    async def decode(self, buf: bytes) -> bytes:
        """Decode a journaled value."""


JournalValueCodecProvider = Callable[[], Awaitable[JournalValueCodec]]


class ConnectError(Exception):
    """A reverse connection to a Restate server failed."""


def _unsupported(feature: str, instead: str) -> NoReturn:
    raise NotImplementedError(f"{feature} is not supported by wakeful: {instead}")


async def connect(app: Any, *, name: str | None = None, key: str | None = None) -> None:
    """restate-sdk's reverse connection to a Restate server."""
    _unsupported("connect()", "run the app in-process with `wakeful serve module:app`")


@asynccontextmanager
async def with_connection(
    app: Any, *, name: str | None = None, key: str | None = None
) -> AsyncIterator[None]:
    """restate-sdk's reverse connection to a Restate server."""
    _unsupported("with_connection()", "run the app in-process with `wakeful serve module:app`")
    yield  # pragma: no cover
