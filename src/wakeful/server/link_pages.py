"""The pages behind completion links, on the public ingress: `GET|POST /restate/links/{token}`.

GET shows what is asked (target, description, created, deadline) and the choices; it never
completes anything, so link previews and prefetches are harmless. POST submits the page's
form: it must carry the page's nonce and come from the same origin (no cross-site forms), and
completes the awakeable once. Every outcome is a page a person can read: done (200), already
decided (410), expired (410), closed (410), invalid (404), a value of the wrong type (400).
"""

from __future__ import annotations

import html
import json
from urllib.parse import parse_qs

from wakeful.engine.waits import Delivery, WaitRow, WaitStatus
from wakeful.journal.entries import Result
from wakeful.journal.ids import InvocationId
from wakeful.links import LinkError, LinkSigner, LinkToken
from wakeful.server.choices import Form, form_for, payload_for
from wakeful.server.completions import (
    COMPLETION_HEADER,
    complete_wait,
    find_wait,
    rfc3339,
)
from wakeful.server.http import HttpError, Receive, Scope, Send, read_body, send_bytes
from wakeful.server.runtime import Runtime

__all__ = ["LinkPages", "decided_label", "render_form"]

_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"referrer-policy", b"no-referrer"),  # the token is in the URL
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
]
_STYLE = """
body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem} dl{display:grid;grid-template-columns:auto 1fr;gap:.3rem 1rem}
dt{color:#666} button{font-size:1rem;padding:.5rem 1.2rem;margin:.5rem .5rem 0 0;cursor:pointer}
label{display:block;margin-top:.7rem} input[type=text],textarea{width:100%;padding:.3rem}
.note{padding:.8rem;border-radius:.3rem;background:#f3f3f3} .error{background:#fde8e8}
"""


def decided_label(form: Form, result: Result | None) -> str:
    """How a stored completion reads on the page ("approved", "rejected", a label)."""
    if result is None:
        return "completed"
    if result.failure is not None:
        for choice in form.choices:
            if choice.reject == result.failure.message:
                return choice.past
        return "rejected"
    try:
        value = json.loads(result.value) if result.value else None
    except ValueError:
        return "completed"
    for choice in form.choices:
        if choice.reject is not None:
            continue
        if choice.flag is not None:
            if isinstance(value, dict) and value.get(choice.flag) == choice.value:
                return choice.past
        elif not form.inputs and not form.json_box and value == choice.value:
            return choice.past
    return "completed"


def _page(title: str, body: str) -> bytes:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    ).encode()


def _context(row: WaitRow | None) -> str:
    if row is None:
        return ""
    items = [("Waiting in", row.target), ("Created", rfc3339(row.created_at_ms))]
    if row.deadline_ms is not None:
        items.append(("Deadline", rfc3339(row.deadline_ms)))
    items.append(("Invocation", str(InvocationId.from_bytes(row.invocation_id))))
    cells = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in items)
    return f"<dl>{cells}</dl>"


def _heading(row: WaitRow | None) -> str:
    text = row.description if row is not None and row.description else "A decision is needed"
    return f"<h1>{html.escape(text)}</h1>"


def render_form(form: Form, nonce: str) -> str:
    """The form of a completion page (buttons, inputs, JSON box)."""
    parts = [f'<form method=post><input type=hidden name=nonce value="{html.escape(nonce)}">']
    for item in form.inputs:
        name = html.escape(f"field.{item.name}")
        optional = "" if item.required else " (optional)"
        label = html.escape(item.title + optional)
        if item.kind == "boolean":
            parts.append(f"<label><input type=checkbox name={name} value=true> {label}</label>")
        else:
            mode = " inputmode=numeric" if item.kind in ("integer", "number") else ""
            req = " required" if item.required else ""
            parts.append(f"<label>{label}<input type=text name={name}{mode}{req}></label>")
    if form.json_box:
        parts.append("<label>Value (JSON)<textarea name=json rows=6></textarea></label>")
    parts.append("<div>")
    for index, choice in enumerate(form.choices):
        parts.append(
            f"<button type=submit name=choice value={index}>{html.escape(choice.label)}</button>"
        )
    parts.append("</div></form>")
    return "".join(parts)


class LinkPages:
    """Serves the completion pages of signed links."""

    def __init__(self, runtime: Runtime, signer: LinkSigner) -> None:
        self.runtime = runtime
        self.signer = signer

    async def handle(
        self, token: str, method: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Answer GET (show) or POST (complete) for one link."""
        if method not in ("GET", "POST"):
            raise HttpError(405, "method not allowed")
        try:
            link = self.signer.verify(token, self.runtime.clock.now_ms() / 1000)
            row = await find_wait(self.runtime, link.wait_id)
        except (LinkError, HttpError) as e:
            expired = isinstance(e, LinkError) and e.reason == "expired"
            status, text = (
                (410, "This link has expired: ask for a new one.")
                if expired
                else (404, "This link is not valid. Check that it was copied whole.")
            )
            await self._answer(send, status, "Link not usable", f'<p class="note error">{text}</p>')
            return
        form = form_for(None if row is None else row.schema, link.outcomes)
        if method == "GET":
            await self._show(send, token, link, row, form)
        else:
            await self._submit(send, token, link, row, form, scope, receive)

    async def _show(
        self, send: Send, token: str, link: LinkToken, row: WaitRow | None, form: Form
    ) -> None:
        head = _heading(row) + _context(row)
        if row is None:
            await self._answer(send, 404, "Not found", head + _note("Nothing waits for this."))
        elif row.status == WaitStatus.COMPLETED:
            await self._answer(send, 410, "Already decided", head + _decided(form, row))
        elif row.status == WaitStatus.CLOSED:
            await self._answer(send, 410, "Closed", head + _note(_CLOSED))
        else:
            expires = rfc3339(link.expires_at * 1000)
            body = head + render_form(form, self.signer.form_nonce(token))
            body += f'<p style="color:#888">This link expires at {html.escape(expires)}.</p>'
            await self._answer(send, 200, "Decision needed", body)

    async def _submit(
        self,
        send: Send,
        token: str,
        link: LinkToken,
        row: WaitRow | None,
        form: Form,
        scope: Scope,
        receive: Receive,
    ) -> None:
        _same_origin(scope)
        fields = {
            k: v[0]
            for k, v in parse_qs((await read_body(receive, 1 << 20)).decode("utf-8")).items()
        }
        if not self.signer.check_nonce(token, fields.get("nonce", "")):
            raise HttpError(403, "the form did not come from this link's page")
        head = _heading(row) + _context(row)
        try:
            result = payload_for(form, int(fields.get("choice", "-1")), fields)
            done = await complete_wait(
                self.runtime, link.wait_id, result, self.runtime.clock.now_ms()
            )
        except (ValueError, HttpError) as e:
            message = e.message if isinstance(e, HttpError) else str(e)
            again = render_form(form, self.signer.form_nonce(token))
            body = head + f'<p class="note error">{html.escape(message)}</p>' + again
            await self._answer(send, 400, "Not accepted", body)
            return
        header = (COMPLETION_HEADER, done.delivery.value.encode())
        if done.delivery is Delivery.APPLIED:
            label = decided_label(form, result)
            body = head + _note(f"Done: {label}. You can close this page.")
            await self._answer(send, 200, "Done", body, header)
        elif done.delivery in (Delivery.DUPLICATE, Delivery.CONFLICT):
            at = "" if done.completed_at_ms is None else f" at {rfc3339(done.completed_at_ms)}"
            text = f"Already decided: {decided_label(form, done.stored)}{at}."
            await self._answer(send, 410, "Already decided", head + _note(text), header)
        elif done.delivery is Delivery.CLOSED:
            await self._answer(send, 410, "Closed", head + _note(_CLOSED), header)
        else:
            await self._answer(send, 404, "Not found", _note("Nothing waits for this."), header)

    async def _answer(
        self, send: Send, status: int, title: str, body: str, *extra: tuple[bytes, bytes]
    ) -> None:
        await send_bytes(
            send,
            status,
            _page(title, body),
            [*_HEADERS, *extra],
            b"text/html; charset=utf-8",
        )


_CLOSED = "This request is closed: whatever waited for it has ended."


def _note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def _decided(form: Form, row: WaitRow) -> str:
    at = "" if row.completed_at_ms is None else f" at {rfc3339(row.completed_at_ms)}"
    return _note(f"Already decided: {decided_label(form, row.result)}{at}.")


def _same_origin(scope: Scope) -> None:
    """403 for a form posted from another site (Origin, or Sec-Fetch-Site, says so)."""
    headers: dict[bytes, bytes] = {k.lower(): v for k, v in scope["headers"]}
    site = headers.get(b"sec-fetch-site")
    if site is not None and site not in (b"same-origin", b"none"):
        raise HttpError(403, "cross-site form submissions are refused")
    origin = headers.get(b"origin")
    host = headers.get(b"host")
    cross = origin is not None and host is not None and origin.split(b"://", 1)[-1] != host
    if cross and origin != b"null":
        raise HttpError(403, "cross-site form submissions are refused")
