"""Cluster processes on separate network namespaces (as separate machines), reaching each
other and PostgreSQL over a real network: requests cross it, and a machine cut off from it
loses its partition and cannot write when it comes back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from tests.e2e.apps_durability import wait_until
from tests.storage.cluster_app import APP, TRACES_ENV
from tests.storage.netns import Network, network
from tests.support.postgres import postgres_schema

LEASE_TTL_S = 1.5


@dataclass
class Machine:
    """A `wakeful serve` running inside one namespace."""

    namespace: str
    address: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{self.address}:8080"

    @property
    def admin_url(self) -> str:
        return f"http://{self.address}:9070"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _via(conninfo: str, host: str, port: int) -> str:
    """The same database URL, reached at host:port."""
    parts = urlsplit(conninfo)
    user = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}:{port}"))


@pytest.fixture
def machines(tmp_path: Path) -> Iterator[tuple[Network, list[Machine]]]:
    if os.geteuid() != 0:  # CI runs as root; elsewhere this cannot be set up
        pytest.skip("network namespaces need root")
    traces = tmp_path / "traces"
    traces.mkdir()
    with postgres_schema() as conninfo, network(3) as net:
        store = _via(conninfo, net.gateway, net.relay_port)
        started: list[Machine] = []
        try:
            for i, (namespace, address) in enumerate(net.machines):
                log_path = tmp_path / f"machine-{i}.log"
                with log_path.open("wb") as log:
                    popen = subprocess.Popen(
                        [
                            "ip",
                            "netns",
                            "exec",
                            namespace,
                            sys.executable,
                            "-m",
                            "wakeful.cli",
                            "serve",
                            APP,
                            "--store",
                            store,
                            "--host",
                            address,
                            "--admin-host",
                            address,
                            "--data-dir",
                            str(tmp_path / f"data-{i}"),
                            "--lease-ttl",
                            f"{LEASE_TTL_S}s",
                            "--inactivity-timeout",
                            "0",
                        ],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env={**os.environ, TRACES_ENV: str(traces)},
                    )
                started.append(Machine(namespace, address, popen, log_path))
            for machine in started:
                wait_until(lambda m=machine: _healthy(m), 30, f"{machine.address} to serve")
            yield net, started
        finally:
            for machine in started:
                machine.popen.send_signal(signal.SIGKILL)
                machine.popen.wait(10)


def _healthy(machine: Machine) -> bool:
    if machine.popen.poll() is not None:
        raise AssertionError(f"{machine.address} exited:\n{machine.log()}")
    try:
        return httpx.get(f"{machine.url}/restate/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _leader(machines: list[Machine], via: Machine, other_than: Machine | None = None) -> Machine:
    def probe() -> Machine | None:
        try:
            view = httpx.get(f"{via.admin_url}/cluster", timeout=2).json()
        except httpx.HTTPError:
            return None
        urls = [p["ingressUrl"] for p in view["processes"] if p["leader"]]
        found = next((m for m in machines if [m.url] == urls), None)
        return None if found is other_than else found

    return wait_until(probe, 15, "a leader")


def _post(url: str, body: Any, expect: int, **kwargs: Any) -> Any:
    response = httpx.post(url, json=body, timeout=30, **kwargs)
    assert response.status_code == expect, response.text
    return response.json() if response.content else None


def test_requests_cross_the_network_between_machines(
    machines: tuple[Network, list[Machine]],
) -> None:
    """An invocation sent through one machine runs on the leader's and is attached through a
    third; calls for one object key through all three run in arrival order."""
    _, (m0, m1, m2) = machines
    _leader([m0, m1, m2], m0)
    iid = _post(f"{m0.url}/Flow/slow/send", 0.0, 202)["invocationId"]
    response = httpx.get(f"{m2.url}/restate/invocation/{iid}/attach", timeout=30)
    assert response.status_code == 200, response.text
    leader = _leader([m0, m1, m2], m1)
    assert response.json() == leader.popen.pid  # `ip netns exec` execs: the server's own pid
    for i in range(6):  # one object key, calls through every machine: arrival order
        _post(f"{(m0, m1, m2)[i % 3].url}/Counter/k/add", i, 200)
    assert _post(f"{m1.url}/Counter/k/add", 6, 200) == list(range(7))


def test_a_machine_cut_off_loses_its_partition_and_cannot_write_when_back(
    machines: tuple[Network, list[Machine]],
) -> None:
    """Unplug the leader's machine: another machine takes the partition within the lease and
    serves; plugged back, the old leader steps down (its epoch is stale) and forwards to the new
    one, and the object's state is the new leader's."""
    net, all_machines = machines
    leader = _leader(all_machines, all_machines[0])
    others = [m for m in all_machines if m is not leader]
    before = _post(f"{others[0].url}/Counter/c/add", 1, 200)
    assert before == [1]
    cut_at = time.monotonic()
    net.cut(all_machines.index(leader))
    successor = _leader(all_machines, others[0], other_than=leader)
    took_s = time.monotonic() - cut_at
    assert successor in others
    assert took_s <= LEASE_TTL_S + 4, f"took {took_s:.2f}s"
    assert _post(f"{others[1].url}/Counter/c/add", 2, 200) == [1, 2]
    net.plug(all_machines.index(leader))
    wait_until(lambda: "no longer leading" in leader.log(), 15, "the cut-off leader to step down")
    # Back on the network it forwards to the new leader, and the data is the new leader's.
    wait_until(lambda: _healthy(leader), 10, "the old leader to answer again")
    assert _post(f"{leader.url}/Counter/c/add", 3, 200) == [1, 2, 3]
    print(f"partition taken over {took_s:.2f}s after the leader was cut off")
