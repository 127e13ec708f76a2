"""Network namespaces joined by a bridge, as separate machines on one network (root only).

Each "machine" is a namespace with one veth interface on a bridge in the root namespace; the
bridge's address reaches a TCP relay to PostgreSQL (which listens on loopback only). Bringing
a machine's interface down cuts it off from the database and from the other machines.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Network", "network"]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@dataclass
class Network:
    """The bridge's address, and one namespace name and address per machine."""

    gateway: str
    machines: list[tuple[str, str]]  # (namespace, address)
    relay_port: int  # on the gateway: PostgreSQL
    tag: str

    def cut(self, index: int) -> None:
        """Unplug machine `index` from the network."""
        _ip("link", "set", f"{self.tag}h{index}", "down")

    def plug(self, index: int) -> None:
        """Plug machine `index` back in."""
        _ip("link", "set", f"{self.tag}h{index}", "up")


class _Relay:
    """A TCP relay from the bridge's address to PostgreSQL on loopback, on its own thread."""

    def __init__(self, listen_host: str, target: tuple[str, int]) -> None:
        self.target = target
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        ready = threading.Event()

        async def start() -> None:
            self.server = await asyncio.start_server(self._pipe_pair, listen_host, 0)
            self.port = self.server.sockets[0].getsockname()[1]
            ready.set()

        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(start(), self.loop)
        if not ready.wait(10):
            raise RuntimeError("the PostgreSQL relay did not start")

    async def _pipe_pair(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        self.writers -= {writer, up_writer}

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    def close(self) -> None:
        async def shut() -> None:
            if self.server is not None:
                self.server.close()
            for writer in list(self.writers):
                writer.close()
            await asyncio.sleep(0.1)  # let the pipes see their ends
            for task in asyncio.all_tasks() - {asyncio.current_task()}:
                task.cancel()

        asyncio.run_coroutine_threadsafe(shut(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@contextlib.contextmanager
def network(machines: int, postgres: tuple[str, int] = ("127.0.0.1", 5432)) -> Iterator[Network]:
    """Create the bridge and `machines` namespaces; remove everything afterwards."""
    tag = f"wk{secrets.token_hex(2)}"
    octet = 16 + secrets.randbelow(200)
    gateway = f"10.{octet}.0.1"
    bridge = f"{tag}br"
    created: list[str] = []
    relay: _Relay | None = None
    try:
        _ip("link", "add", bridge, "type", "bridge")
        _ip("addr", "add", f"{gateway}/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        found: list[tuple[str, str]] = []
        for i in range(machines):
            namespace, address = f"{tag}n{i}", f"10.{octet}.0.{i + 2}"
            _ip("netns", "add", namespace)
            created.append(namespace)
            host_end, machine_end = f"{tag}h{i}", f"{tag}m{i}"
            _ip("link", "add", host_end, "type", "veth", "peer", "name", machine_end)
            _ip("link", "set", machine_end, "netns", namespace)
            _ip("link", "set", host_end, "master", bridge)
            _ip("link", "set", host_end, "up")
            _ip("-n", namespace, "addr", "add", f"{address}/24", "dev", machine_end)
            _ip("-n", namespace, "link", "set", machine_end, "up")
            _ip("-n", namespace, "link", "set", "lo", "up")
            found.append((namespace, address))
        relay = _Relay(gateway, postgres)
        yield Network(gateway, found, relay.port, tag)
    finally:
        if relay is not None:
            relay.close()
        for namespace in created:
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=10)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True, timeout=10)
