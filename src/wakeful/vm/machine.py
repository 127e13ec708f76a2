"""The replay machine of one attempt: an explicit state machine that does no I/O.

```
WaitingStart --start(journal)--> Replaying --last recorded command taken--> Processing
     any state --end / suspend / a failure--> Closed
```

- **Commands** (`command`, `command_deferred`/`fill`, `propose_completion`): each context call
  takes the next command position at once, at the call site. While positions are within the
  recorded journal the machine is *Replaying*: the command is compared field by field with the
  recorded one (`vm.diff`) and the recorded one is returned (it carries the values computed then:
  a wake-up time, a callee id, a state value read). Past it the machine is *Processing*: the
  command is new and goes to the outbox. A command whose value is not known yet (a state read
  waiting for the shared state load) holds its position with a `Slot` filled later; the outbox
  is only sent up to the first unfilled slot, so positions never move.
- **Notifications** (`notify`, consumed by `do_progress`): completions and signals, consumed one
  at a time in journal order and only while the handler awaits something not yet available:
  first the recorded ones, then those the engine appends while the attempt runs. A live attempt
  and its replays thus see the same sequence, which keeps combinators deterministic.
- **Progress** (`do_progress`): what an await should do now: go on, raise the cancellation,
  flush and wait, wait for the attempt's own work in flight, or suspend.
- **Errors latch**: a journal mismatch, a protocol violation or a failed step moves the machine to
  Closed with `failure` set; every later call raises that failure again, so a handler that
  swallows it with `except` cannot complete, and the invoker reports it as the attempt's failure.
  A suspension latches the same way (`waiting` is set).

`vm/core.py` holds the state and the one door failures go through (`_latch`); the transitions
live in `vm/transitions/`, one module per family, and `ReplayMachine` puts them together.
"""

from __future__ import annotations

from wakeful.vm.core import Slot, State
from wakeful.vm.transitions.lifecycle import LifecycleTransitions
from wakeful.vm.transitions.progress import Progress, ProgressTransitions

__all__ = ["Progress", "ReplayMachine", "Slot", "State"]


class ReplayMachine(LifecycleTransitions, ProgressTransitions):
    """The replay machine of one attempt: every transition family over one `MachineCore`."""
