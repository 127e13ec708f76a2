"""Completion links and the inbox in a real browser: Debian's chromium, headless, driven by
Playwright (scripts/install-browser.sh installs it; Playwright never downloads one)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from tests.e2e.apps_durability import attach, send, wait_status, wait_until
from tests.e2e.apps_humans import APP, LINKS_ENV
from tests.support.server import WakefulProcess

from wakeful.journal.ids import AwakeableId, InvocationId

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
Server = tuple[WakefulProcess, Path]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The humans test app, every wait suspending at once."""
    root = tmp_path_factory.mktemp("browser")
    process = WakefulProcess(
        app=APP, data_dir=root / "data", inactivity_timeout="0", env={LINKS_ENV: str(root)}
    ).start()
    yield process, root
    process.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless chromium (the Debian package)."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page (own cookies and cache) per test."""
    context = browser.new_context()
    yield context.new_page()
    context.close()


def pending_ids(proc: WakefulProcess) -> set[str]:
    """Ids of the pending awakeables the admin API lists."""
    response = httpx.get(f"{proc.admin_url}/awakeables", params={"limit": 1000}, timeout=10)
    return {item["id"] for item in response.json()["awakeables"]}


def test_link_opened_in_a_browser_approves_once(server: Server, page: Page) -> None:
    """Opening the link completes nothing; clicking Approve resumes the handler with true;
    opening the link again shows "Already decided: approved"."""
    proc, links = server
    iid = send(proc.url, "Humans/linked", "expense 11 (€80)")
    url = wait_until(lambda: (links / iid).exists() and (links / iid).read_text(), 10, "link")
    wait_status(proc.admin_url, iid, "suspended")
    aid = str(AwakeableId(InvocationId.parse(iid), 17))

    page.goto(url)
    expect(page.locator("h1")).to_have_text("Approve expense 11 (€80)")
    assert aid in pending_ids(proc)  # GET completed nothing
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("body")).to_contain_text("Done: approved")
    assert attach(proc.url, iid).json() is True

    response = page.goto(url)
    assert response is not None
    assert response.status == 410
    expect(page.locator("body")).to_contain_text("Already decided: approved at")


def test_inbox_shows_a_new_approval_without_reload_and_completes_it(
    server: Server, page: Page
) -> None:
    """With the inbox open, a new pending approval appears by itself; filling the comment and
    clicking Approve completes it and the handler returns that decision."""
    proc, _ = server
    page.goto(f"{proc.admin_url}/inbox")
    expect(page.locator("#summary")).not_to_have_text("Loading…")
    iid = send(proc.url, "Humans/approve", "expense 12 (€2,400)")
    card = page.locator(".card", has_text="Approve expense 12 (€2,400)")
    expect(card).to_be_visible(timeout=10_000)  # appeared without a reload
    expect(card).to_contain_text("Humans/approve")
    expect(card).to_contain_text("deadline")  # it races a one-hour timer
    card.locator("input[name=comment]").fill("ok for Q3")
    card.get_by_role("button", name="Approve").click()
    expect(card).to_contain_text("Done: approved")
    assert attach(proc.url, iid).json() == {"approved": True, "comment": "ok for Q3"}
