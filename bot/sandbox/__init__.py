"""An offline Slack: a fake Web API with state and faults, a request signer, a transcript renderer.

Used by the tests and by ``vro-bot demo``; nothing here talks to the real Slack.
"""

from bot.sandbox.api import ApiReply, CallLog, CallRecord, SandboxApi
from bot.sandbox.faults import ChannelRateLimit, Fault, FaultQueue
from bot.sandbox.server import RunningSandbox, SlackSandbox, create_sandbox, serve_asgi, serve_sandbox
from bot.sandbox.workspace import SlackApiFailure, Workspace

__all__ = [
    "ApiReply",
    "CallLog",
    "CallRecord",
    "ChannelRateLimit",
    "Fault",
    "FaultQueue",
    "RunningSandbox",
    "SandboxApi",
    "SlackApiFailure",
    "SlackSandbox",
    "Workspace",
    "create_sandbox",
    "serve_asgi",
    "serve_sandbox",
]
