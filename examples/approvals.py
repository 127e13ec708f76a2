"""The approval example: a handler that waits for a human, durably.

wakeful serve examples/approvals.py:app
curl localhost:8080/Approvals/request/send --json '"contract.pdf"'
"""

from __future__ import annotations

import logging

import wakeful as restate
from wakeful import Context, Service

log = logging.getLogger("approvals")

approvals = Service("Approvals")


def send_email(doc: str, review_id: str) -> None:
    """Stand-in for a real notification: prints the command that completes the review."""
    log.info(
        "review %s: curl localhost:8080/restate/awakeables/%s/resolve --json '\"Looks good!\"'",
        doc,
        review_id,
    )


@approvals.handler()
async def request(ctx: Context, doc: str) -> str:
    """Ask a reviewer to approve `doc`; return their verdict (waits, durably, until they answer)."""
    review_id, review = ctx.awakeable(type_hint=str)
    await ctx.run("notify reviewer", lambda: send_email(doc, review_id))
    return await review


app = restate.app(services=[approvals])
