"""``POST /slack/events``: check the signature, read the body, then hand the request to Bolt.

Bolt would do both itself, but a request that is not what Slack sends made it fail with a 500
and a stack trace in the log: a timestamp header that is not a number (its verifier calls
``int()`` on it), a ``payload`` field that is not JSON (its parser calls ``json.loads``
before any check), or JSON that is not the object Slack sends (its context builder calls
``.get`` on it and indexes into ``authorizations``). Here the signature is checked first, on the raw body, and anything that is
not signed with the signing secret is 401, as Bolt answers it; a signed body that cannot be
read is 400. Bolt still runs its own verification afterwards.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request, to_starlette_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.slack.app import repair_form_body

INVALID_REQUEST = {"error": "invalid request"}  # Bolt's own answer to a bad signature
UNREADABLE_BODY = {"error": "the request body is not a form or JSON document Slack would send"}


def signed(verifier: SignatureVerifier, body: bytes, request: Request) -> bool:
    """True when the X-Slack-Signature headers sign ``body`` recently; malformed headers are False."""
    try:
        return verifier.is_valid(
            body=body,
            timestamp=request.headers.get("x-slack-request-timestamp"),
            signature=request.headers.get("x-slack-signature"),
        )
    except ValueError:  # a timestamp that is not a number
        return False


def slack_events_endpoint(app: AsyncApp, signing_secret: str) -> Callable[[Request], Awaitable[Response]]:
    verifier = SignatureVerifier(signing_secret)

    async def slack_events(request: Request) -> Response:
        body = await request.body()
        if not signed(verifier, body, request):
            return JSONResponse(INVALID_REQUEST, status_code=401)
        try:
            bolt_request = to_async_bolt_request(request, body)
        except ValueError:  # json.JSONDecodeError: a payload or body that is not JSON
            return JSONResponse(UNREADABLE_BODY, status_code=400)
        except (AttributeError, TypeError, KeyError, IndexError):
            # Only reading happens here: JSON, but a list or a string where Bolt expects objects.
            return JSONResponse(UNREADABLE_BODY, status_code=400)
        return to_starlette_response(await app.async_dispatch(repair_form_body(bolt_request)))

    return slack_events
