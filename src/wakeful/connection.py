"""`wakeful.connection` (as restate-sdk's `restate.connection`): tunnels to a Restate server.

wakeful runs the services in its own process, so there is nothing to connect to: using these
raises NotImplementedError saying what to do instead.
"""

from dataclasses import dataclass

from wakeful.sdk.unsupported import ConnectError, Connection, connect, with_connection

__all__ = ["ConnectError", "Connection", "TunnelInfo", "connect", "with_connection"]


@dataclass(frozen=True)
class TunnelInfo:
    """Where a tunnel to a Restate server ends (never produced by wakeful)."""

    name: str
    deployment_url: str
    proxy_url: str
    tunnel_url: str
