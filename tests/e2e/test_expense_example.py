"""The README's expense approval example, served for real: the link in the log approves it;
left alone, it reminds the manager and gives up."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from tests.e2e.apps_durability import attach, send, wait_until
from tests.support.server import WakefulProcess

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "expense_approval.py") + ":app"
EXPENSE = {"id": "42", "amount": 1200, "by": "ada", "manager": "grace@example.com"}


def links_in_log(proc: WakefulProcess) -> list[str]:
    """Every completion link the example "emailed" (logged) so far."""
    return re.findall(r"http://\S+/restate/links/\S+", proc.log())


def test_manager_approves_from_the_link_in_the_log(tmp_path: Path) -> None:
    """The logged link's page shows the expense with Approve/Reject and a comment; approving
    resumes the handler, which returns the decision."""
    proc = WakefulProcess(app=EXAMPLE, data_dir=tmp_path / "data", inactivity_timeout="0")
    proc.start()
    try:
        iid = send(proc.url, "Expenses/submit", EXPENSE)
        url = wait_until(lambda: links_in_log(proc), 10, "the email in the log")[0]
        page = httpx.get(url, timeout=10)
        assert page.status_code == 200, page.text
        assert "Expense 42: €1,200.00 for ada" in page.text
        assert "field.comment" in page.text
        nonce = re.search(r'name=nonce value="([^"]+)"', page.text)
        assert nonce is not None
        form = {"nonce": nonce.group(1), "choice": "0", "field.comment": "fine"}
        done = httpx.post(url, data=form, headers={"origin": proc.url}, timeout=10)
        assert done.status_code == 200, done.text
        result = attach(proc.url, iid).json()
        assert result == {"expense": "42", "approved": True, "comment": "fine"}
    finally:
        proc.stop()


def test_without_a_decision_it_reminds_then_gives_up(tmp_path: Path) -> None:
    """With the waits shortened, the manager gets a reminder with the same link, then the
    expense is rejected for want of a decision."""
    proc = WakefulProcess(
        app=EXAMPLE,
        data_dir=tmp_path / "data",
        inactivity_timeout="0",
        env={"EXPENSE_REMINDER": "1s", "EXPENSE_TIMEOUT": "2s"},
    )
    proc.start()
    try:
        iid = send(proc.url, "Expenses/submit", EXPENSE)
        result = attach(proc.url, iid).json()
        assert result == {"expense": "42", "approved": False, "comment": "no decision in time"}
        assert "Reminder: Please approve expense 42" in proc.log()
        first, reminder = links_in_log(proc)
        assert first == reminder
        assert httpx.get(first, timeout=10).status_code == 410  # closed: nobody waits now
    finally:
        proc.stop()
