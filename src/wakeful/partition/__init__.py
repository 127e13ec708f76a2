"""The partition: its leader (group commit), timers, purge, recovery, and the router to it."""
