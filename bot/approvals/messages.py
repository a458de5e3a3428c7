"""Every sentence the approval service says to people in Slack.

Short and specific: what happened, then what to do next. ``{placeholders}`` are filled with
``str.format``; tests compare outcomes against these constants. Plan names are shown in bold
(Slack mrkdwn), user ids as mentions (``<@U123>``).
"""

from __future__ import annotations

from typing import Final

# --- asking -------------------------------------------------------------------------------
CHANNEL_NOT_ALLOWED: Final = (
    "/vro is not enabled in this channel. Use it in one of the channels listed in the bot's policy file."
)
ROLE_REQUIRED_TO_REQUEST: Final = (
    "You need the {role} role to {verb} a plan. Ask whoever runs the bot to add you to it in the policy file."
)
REASON_REQUIRED: Final = (
    '{verb} needs a reason. Add --reason "..." (an incident number, for example) and try again.'
)
GROUPS_UNAVAILABLE: Final = (
    "I can't check who is in @{group} right now ({problem}), so I can't {what}. Nothing was changed. "
    "Try again in a few minutes; if it keeps happening, tell whoever runs the bot."
)
BAD_PARAMS: Final = "That can't be sent: {problem}. Fix the options and try again."
PLAN_STATE_REFUSED: Final = "{reason}"
DUPLICATE_REQUEST: Final = (
    "A request to {verb} *{plan}* is already waiting for approval (asked by <@{requester}> at "
    "{asked}, request `{request_id}`). Approve or deny that one, or cancel it and ask again."
)
READINESS_REFUSED: Final = (
    "{problem} To {verb} *{plan}* the policy asks for a passed readiness check from the last {limit}. "
    "Run one now (the button below, or /vro check), then ask again once it passes."
)
READINESS_WARNING: Final = "Readiness not proven: {problem} Approvers see this on the card."
REQUEST_PENDING: Final = (
    "Request to {verb} *{plan}* is waiting for {needed} from the {role} role (someone other than you). "
    "It expires in {ttl_minutes} minutes."
)
REQUEST_PENDING_GROUPS: Final = (
    "Request to {verb} *{plan}* is waiting for {needed}: one person counts once, and not you. "
    "It expires in {ttl_minutes} minutes."
)

# --- deciding -----------------------------------------------------------------------------
NOT_FOUND: Final = "I can't find that request. Run /vro approvals to see the open ones."
SELF_APPROVAL: Final = (
    "You can't approve your own request. Someone else with the {role} role has to approve it."
)
APPROVER_ROLE_REQUIRED: Final = "You need the {role} role to approve or deny this request."
ALREADY_APPROVED_BY_YOU: Final = (
    "You have already approved this request; each person decides once. It still needs {needed}."
)
ALREADY_DECIDED: Final = "You have already decided on this request; each person decides once."
NOT_YOUR_REQUEST: Final = (
    "Only <@{requester}>, who made this request, can cancel it. Use Deny if you hold the {role} role."
)
APPROVAL_RECORDED: Final = "Approval recorded. The {verb} request for *{plan}* still needs {needed}."
GROUP_ALREADY_FILLED: Final = (
    "Your approval can't count here: the group you belong to ({roles}) already has its approvals. "
    "This request still needs {needed}."
)
APPROVER_GROUPS_REQUIRED: Final = "You need one of these roles to approve or deny this request: {roles}."
DENIED: Final = "You denied the {verb} request for *{plan}*. Nothing was sent to VRO."
CANCELLED: Final = "You cancelled your {verb} request for *{plan}*. Nothing was sent to VRO."

# --- a request that is closed --------------------------------------------------------------
CLOSED_EXPIRED: Final = (
    "This request expired at {expires} UTC before it got its approvals. "
    "Request it again if it is still needed."
)
CLOSED_DENIED: Final = "This request was denied by <@{user}> and is closed."
CLOSED_CANCELLED: Final = "This request was cancelled by <@{user}> and is closed."
CLOSED_IN_PROGRESS: Final = "This request already has its approvals and is being sent to VRO."
CLOSED_EXECUTED: Final = "This request has already been carried out."
CLOSED_FAILED: Final = "This request has already finished without running. Make a new request if needed."
CLOSED_OUTCOME_UNKNOWN: Final = (
    "This request was sent to VRO but its outcome is unknown; it is closed. Check the plan in VRO."
)

# --- sending ------------------------------------------------------------------------------
EXECUTED: Final = "VRO accepted {verb} for *{plan}*. {detail}"
NOT_SENT_PLAN_STATE: Final = "Not sent to VRO: {reason}"
NOT_SENT_PLAN_UNREADABLE: Final = (
    "Not sent to VRO: I couldn't re-read *{plan}* just before sending ({problem}). "
    "Request it again when VRO answers."
)
NOT_SENT_BAD_PARAMS: Final = "Not sent to VRO: {problem}."
NOT_SENT_READINESS: Final = (
    "Not sent to VRO: {problem} Run a readiness check on *{plan}* and request it again once it passes."
)
VRO_REFUSED: Final = "VRO refused {verb} for *{plan}*: {problem}"
OUTCOME_UNKNOWN: Final = (
    "I lost contact with VRO while sending {verb} for *{plan}*, so I can't tell whether it started. "
    "I will not resend it. Check the plan (/vro status {plan_id}) before trying again."
)
OUTCOME_UNKNOWN_AFTER_RESTART: Final = (
    "The bot stopped while sending {verb} for *{plan}*, so I can't tell whether VRO started it. "
    "I will not resend it. Check the plan (/vro status {plan_id}) before trying again."
)
HELD_AFTER_RESTART: Final = (
    "Not sent yet: the bot stopped after this request was approved and before it was sent. "
    "It will not be sent on its own; press Send to check it again and send it."
)
APPROVED_SENDING: Final = "Approved: sending {verb} for *{plan}* to VRO now."
SEND_NOT_HELD: Final = "This request is not waiting to be sent any more; nothing was sent."
SEND_ROLE_REQUIRED: Final = (
    "Sending needs the {role} role (or to be the requester). Ask one of them to press Send."
)
SEND_APPROVALS_LAPSED: Final = (
    "Not sent: the approvers no longer hold the roles the policy asks for ({roles}). Request it again."
)
SEND_APPROVER_GONE: Final = (
    "Not sent: <@{user}> approved it but no longer holds the {role} role. Request it again."
)
NOT_SENT_AFTER_RESTART: Final = (
    "Not sent to VRO: the bot stopped after this request was approved and before it was sent. "
    "Request it again if it is still needed."
)


def count_of(n: int, noun: str) -> str:
    """``1 approval``, ``2 approvals``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
