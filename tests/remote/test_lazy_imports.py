"""A server without remote deployments starts without the remote protocol's imports."""

from __future__ import annotations

import subprocess
import sys

_PROBE = """
import sys
import wakeful.server.serve
heavy = ("httpx", "google.protobuf", "h2.connection", "wakeful.invoker.remote")
print(",".join(name for name in heavy if name in sys.modules))
"""


def test_serving_imports_no_remote_protocol_code() -> None:
    """Importing the serve machinery loads neither httpx, protobuf, h2 nor the remote invoker:
    they cost start-up time and are imported when the first deployment is bound."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""
