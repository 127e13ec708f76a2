"""The journal: entries, their codec, and invocation/awakeable ids."""
