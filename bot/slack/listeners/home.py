"""The App Home tab: plans at a glance and the requests waiting for the person looking."""

from __future__ import annotations

from typing import Any, Final

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.approvals.membership import GroupLookupError
from bot.approvals.views import groups_unavailable
from bot.slack.blocks.approvals import ApprovalCardView
from bot.slack.blocks.home import access_home_view, home_view
from bot.slack.blocks.kit import ActionId
from bot.slack.listeners.edge import Edge, ask_for_access
from bot.slack.payloads import Click, HomeOpened
from bot.vro.errors import VroError

HOME_OPENED: Final = "app_home_opened"


class HomeListeners:
    """Publishes the Home tab when it is opened or refreshed, and after a decision made there."""

    def __init__(self, edge: Edge) -> None:
        self.edge = edge

    def register(self, app: AsyncApp) -> None:
        app.event(HOME_OPENED)(self.on_opened)
        app.action(ActionId.HOME_REFRESH.value)(self.on_refresh)

    async def publish(self, user: str) -> None:
        """Draw ``user``'s Home tab: plans, and the requests they may decide."""
        parts, client = self.edge.parts, self.edge.client
        refused = await parts.access.refuse_read(user, surface="home")
        if refused is not None:
            await client.views_publish(user_id=user, view=access_home_view(ask_for_access(refused)))
            return
        problem = None
        plans: list[Any] = []
        try:
            plans = await parts.controller.plans()
        except VroError as exc:
            problem = f"VRO can't be read right now: {exc}"
        decidable = []
        try:
            for request in await parts.approvals.pending():
                if request.requester == user or user in request.approvers:
                    continue
                if await parts.policy.holds_any(user, request.approver_roles, parts.groups):
                    decidable.append(ApprovalCardView.from_request(request))
        except GroupLookupError as exc:
            decidable = []
            problem = groups_unavailable(exc, "list the requests waiting for you")
        view = home_view(
            plans=plans,
            approvals=decidable,
            updated_at=parts.clock.now(),
            problem=problem,
            api_version=parts.controller.vro.api_version,
        )
        await client.views_publish(user_id=user, view=view)

    async def on_opened(self, body: dict[str, Any]) -> None:
        opened = HomeOpened.from_body(body)
        if opened.tab != "home":
            return
        self.edge.parts.work.spawn(self.publish(opened.user), name="home.publish")

    async def on_refresh(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        self.edge.parts.work.spawn(self.publish(Click.from_body(body).user), name="home.refresh")
