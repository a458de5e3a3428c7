"""Block Kit builders: pure functions, data in, a :class:`Message` (text + blocks) or a view out.

Every builder keeps within Slack's limits (≤ 50 blocks a message, ≤ 3,000 characters a section,
≤ 2,000 a button value); long lists are paged (Prev / Next buttons re-run the command) or cut
with "Showing N of M". :mod:`bot.slack.blocks.validate` checks that offline against slack_sdk's
models; it is not re-exported here, so the builders load without slack_sdk.
"""

from bot.slack.blocks.approval_lists import audit_message, pending_approvals_message
from bot.slack.blocks.approvals import ApprovalCardView, approval_card_message, describe_params
from bot.slack.blocks.estate import license_message, locations_message, scopes_message
from bot.slack.blocks.home import home_view
from bot.slack.blocks.kit import (
    MODAL_CALLBACK_ID,
    PLAN_ACTION_PATTERN,
    ActionId,
    Message,
    PageRequest,
    page_value,
    parse_page_value,
    plan_action_id,
    verb_of_action_id,
)
from bot.slack.blocks.modal import (
    ModalBlock,
    ModalErrors,
    ModalPlan,
    ModalState,
    command_modal,
    plan_suggestions,
)
from bot.slack.blocks.modal_submission import parse_modal_submission, read_modal_state
from bot.slack.blocks.plans import (
    groups_message,
    params_message,
    plan_detail_message,
    plans_message,
    steps_message,
    vms_message,
)
from bot.slack.blocks.replies import error_message, help_message, notice_message
from bot.slack.blocks.runtime import status_message

__all__ = [
    "MODAL_CALLBACK_ID",
    "PLAN_ACTION_PATTERN",
    "ActionId",
    "ApprovalCardView",
    "Message",
    "ModalBlock",
    "ModalErrors",
    "ModalPlan",
    "ModalState",
    "PageRequest",
    "approval_card_message",
    "audit_message",
    "command_modal",
    "describe_params",
    "error_message",
    "groups_message",
    "help_message",
    "home_view",
    "license_message",
    "locations_message",
    "notice_message",
    "page_value",
    "params_message",
    "parse_modal_submission",
    "parse_page_value",
    "pending_approvals_message",
    "plan_action_id",
    "plan_detail_message",
    "plan_suggestions",
    "plans_message",
    "read_modal_state",
    "scopes_message",
    "status_message",
    "steps_message",
    "verb_of_action_id",
    "vms_message",
]
