"""Several `wakeful serve` processes on one PostgreSQL database: leases, failover, forwarding.

Each process registers itself (heartbeats, the URLs it serves on) and competes for the lease of
the partition; the holder runs the engine (leader, invoker, timers, recovery) under the lease's
epoch, every other process forwards the requests it receives to the holder. When the holder
stops renewing (killed, paused, cut off from the database) its lease expires and another process
takes the partition over with a higher epoch, which fences the old holder's commits.
"""
