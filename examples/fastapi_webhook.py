"""A FastAPI app and the wakeful engine in one process: checkout waits for a payment webhook.

`POST /orders` starts a durable checkout. The handler asks the payment provider for a payment,
handing it an awakeable id as the callback reference, and suspends. When the provider calls
`POST /webhooks/payments`, the webhook resolves (or rejects) that awakeable in-process, and the
checkout resumes where it left off, even after a crash in between.

Run it (needs `pip install fastapi`):

    uvicorn --app-dir examples fastapi_webhook:api --port 8000

    curl localhost:8000/orders --json '{"id": "o-1", "amount": 42}'     # {"invocationId": …}
    # the log shows the callback reference (sign_1…) the provider would call back with
    curl localhost:8000/webhooks/payments --json '{"ref": "sign_1…", "status": "paid"}'
    curl localhost:8000/orders/inv_1…                                  # "o-1: paid 42"

Restate's ingress and the admin API are mounted under /wakeful (`/wakeful/Checkout/pay`,
`/wakeful/admin/invocations`).
"""

from __future__ import annotations

import logging
import os
from typing import Literal

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

import wakeful as restate
from wakeful import Context, Service

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per in-process call otherwise
log = logging.getLogger("checkout")


class Order(BaseModel):
    """What the shop sells: an order id and an amount."""

    id: str
    amount: int


class PaymentEvent(BaseModel):
    """What the payment provider posts to the webhook."""

    ref: str
    status: Literal["paid", "declined"]


def request_payment(order: Order, callback_ref: str) -> str:
    """Stands in for the provider's API: a real one would get `callback_ref` back in its
    webhook call."""
    log.info(
        "payment requested for order %s (%d); callback ref %s", order.id, order.amount, callback_ref
    )
    return f"pay-{order.id}"


checkout = Service("Checkout")


@checkout.handler()
async def pay(ctx: Context, order: Order) -> str:
    """Request a payment, then wait (suspended) for the provider's webhook."""
    ref, payment = ctx.awakeable(type_hint=str)
    await ctx.run("request payment", lambda: request_payment(order, ref))
    status = await payment  # a declined payment rejects it: TerminalError
    return f"{order.id}: {status} {order.amount}"


engine = restate.asgi(
    restate.app(services=[checkout]),
    data_dir=os.environ.get("CHECKOUT_DATA_DIR", ".wakeful-checkout"),
    admin=True,
)
api = FastAPI(lifespan=engine.lifespan)
api.mount("/wakeful", engine)


@api.post("/orders")
async def create_order(order: Order) -> dict[str, str]:
    """Start the checkout of an order; answers at once with its invocation id."""
    async with engine.client() as client:
        handle = await client.service_send(pay, order, idempotency_key=order.id)
    return {"invocationId": handle.invocation_id}


@api.post("/webhooks/payments")
async def payment_webhook(event: PaymentEvent) -> dict[str, str]:
    """The provider's callback: completes the awakeable the checkout waits for."""
    async with engine.client() as client:
        if event.status == "paid":
            await client.resolve_awakeable(event.ref, "paid")
        else:
            await client.reject_awakeable(event.ref, "payment declined")
    return {"ref": event.ref, "status": event.status}


@api.get("/orders/{invocation_id}")
async def order_result(invocation_id: str) -> str:
    """The checkout's outcome (waits for it)."""
    async with engine.client() as client:
        try:
            result: str = await client.attach_invocation(invocation_id, type_hint=str)
        except restate.HttpError as e:  # the checkout failed: the payment was declined
            raise HTTPException(status_code=402, detail=e.message) from e
    return result
