"""Test external-event flows in milliseconds: the engine in the test's process, a virtual clock.

```python
import wakeful.testing

async def test_approval_times_out(app):
    async with wakeful.testing.start(app) as env:
        outcome = await env.client.service_call(request, arg="contract.pdf")  # 3-day timeout
        assert outcome == "timed out"                                            # in ms
```
"""

from wakeful.testing.clock import VirtualClock
from wakeful.testing.env import PendingAwakeable, TestEnvironment, start

__all__ = ["PendingAwakeable", "TestEnvironment", "VirtualClock", "start"]
