"""The partition processor: the invocation lifecycle as a pure state machine."""
