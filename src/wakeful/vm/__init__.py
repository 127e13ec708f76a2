"""The replay machine of one attempt."""
