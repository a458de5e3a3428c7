"""An offline Slack: a fake Web API with state and faults, a request signer, a transcript renderer.

- :class:`SlackSandbox` (``server.py``): the Web API under ``/api/<method>`` and response_url
  hooks under ``/hooks/<id>``, in-process (``sandbox.app``) or on loopback (:func:`serve_sandbox`).
- :class:`SlackDriver` (``driver.py``): signed slash commands, clicks, view submissions, option
  lookups and events sent into the bot's ``POST /slack/events``.
- :func:`render_channel` (``transcript.py``): a channel as text or as a ``rich`` panel.
- ``manifest.py``: the model of ``app-manifest.yml`` and its readers; ``scopes.py``: the scope
  each Web API method needs.

Used by the tests and by ``vro-bot demo``; nothing here talks to the real Slack.
"""

from bot.sandbox.api import SandboxApi
from bot.sandbox.calls import ApiReply, CallLog, CallRecord
from bot.sandbox.driver import SlackDriver
from bot.sandbox.faults import ChannelRateLimit, Fault, FaultQueue
from bot.sandbox.manifest import (
    Manifest,
    ManifestError,
    load_manifest,
    manifest_commands,
    manifest_events,
    manifest_scopes,
)
from bot.sandbox.models import SlackApiFailure
from bot.sandbox.requests import SlackRequest, view_state
from bot.sandbox.retry import ClockRateLimitRetryHandler
from bot.sandbox.scopes import METHOD_SCOPES, missing_scopes, required_scope
from bot.sandbox.server import RunningSandbox, SlackSandbox, create_sandbox, serve_asgi, serve_sandbox
from bot.sandbox.transcript import ButtonRef, Transcript, render_blocks, render_channel, render_channel_rich
from bot.sandbox.workspace import Workspace

__all__ = [
    "METHOD_SCOPES",
    "ApiReply",
    "ButtonRef",
    "CallLog",
    "CallRecord",
    "ChannelRateLimit",
    "ClockRateLimitRetryHandler",
    "Fault",
    "FaultQueue",
    "Manifest",
    "ManifestError",
    "RunningSandbox",
    "SandboxApi",
    "SlackApiFailure",
    "SlackDriver",
    "SlackRequest",
    "SlackSandbox",
    "Transcript",
    "Workspace",
    "create_sandbox",
    "load_manifest",
    "manifest_commands",
    "manifest_events",
    "manifest_scopes",
    "missing_scopes",
    "render_blocks",
    "render_channel",
    "render_channel_rich",
    "required_scope",
    "serve_asgi",
    "serve_sandbox",
    "view_state",
]
