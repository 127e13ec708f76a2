"""Extensions (as restate-sdk's `restate.ext`)."""
