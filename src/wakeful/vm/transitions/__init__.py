"""The replay machine's transitions, one module per family (as sdk-shared-core groups them).

- `lifecycle`: start from a journal, end with the handler's result, fail from outside;
- `commands`: take command positions (compare on replay, buffer when new), steps, the outbox;
- `notifications`: entries delivered by the engine, consumed in journal order;
- `progress`: what an await should do now, and suspension.
"""
