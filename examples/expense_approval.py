"""Expense approval by a manager: a signed link to approve or reject, a reminder after a day,
and a rejection when nobody decides within three days.

    wakeful serve examples/expense_approval.py:app
    curl localhost:8080/Expenses/submit/send --json \
        '{"id": "42", "amount": 1200, "by": "ada", "manager": "grace@example.com"}'

The "email" is a log line with the link; open it in a browser (or the inbox at
http://localhost:9070/inbox). `EXPENSE_REMINDER` and `EXPENSE_TIMEOUT` (e.g. `30s`, `2m`)
shorten the waits to try the reminder and the timeout.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta

import wakeful as restate
from wakeful import Context, Service

log = logging.getLogger("expenses")


def _duration(name: str, default: timedelta) -> timedelta:
    text = os.environ.get(name)
    if not text:
        return default
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return timedelta(seconds=float(text[:-1]) * units[text[-1]])


REMIND_AFTER = _duration("EXPENSE_REMINDER", timedelta(days=1))
GIVE_UP_AFTER = _duration("EXPENSE_TIMEOUT", timedelta(days=3))


@dataclass
class Expense:
    """What an employee asks to be paid back."""

    id: str
    amount: float
    by: str
    manager: str


@dataclass
class Decision:
    """The manager's answer: the link's page shows Approve / Reject and a comment field."""

    approved: bool
    comment: str | None = None


def send_email(to: str, subject: str, url: str) -> None:
    """Stands in for a mail service: the message goes to the server log."""
    log.warning("EMAIL to %s: %s\n    %s", to, subject, url)


expenses = Service("Expenses")


@expenses.handler()
async def submit(ctx: Context, expense: Expense) -> dict[str, object]:
    """Ask the manager, remind them once, give up after the timeout."""
    approval_id, approval = ctx.awakeable(
        type_hint=Decision,
        description=f"Expense {expense.id}: €{expense.amount:,.2f} for {expense.by}",
    )
    # In ctx.run: the link (its expiry) is journaled, so a replay sends the same one.
    url = await ctx.run("link", lambda: restate.completion_link(approval_id, expires=GIVE_UP_AFTER))
    subject = f"Please approve expense {expense.id} (€{expense.amount:,.2f})"
    await ctx.run("ask", lambda: send_email(expense.manager, subject, url))

    match await restate.select(decision=approval, remind=ctx.sleep(REMIND_AFTER)):
        case ["decision", decision]:
            return _outcome(expense, decision)
        case _:
            await ctx.run(
                "remind", lambda: send_email(expense.manager, f"Reminder: {subject}", url)
            )

    match await restate.select(decision=approval, timeout=ctx.sleep(GIVE_UP_AFTER - REMIND_AFTER)):
        case ["decision", decision]:
            return _outcome(expense, decision)
        case _:
            return {"expense": expense.id, "approved": False, "comment": "no decision in time"}


def _outcome(expense: Expense, decision: Decision) -> dict[str, object]:
    return {"expense": expense.id, "approved": decision.approved, "comment": decision.comment}


app = restate.app(services=[expenses])
