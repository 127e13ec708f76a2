"""The replay machine of one attempt (`machine`), and the asyncio pump that waits for it (`pump`).

`machine.ReplayMachine` is a synchronous state machine (WaitingStart -> Replaying -> Processing ->
Closed) that does no I/O: journal entries in, answers and entries to journal out. `pump.AttemptPump`
is the thin asyncio loop around it that flushes entries, waits for deliveries and suspends.
"""
