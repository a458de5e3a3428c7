"""Every table module, imported so that ``bot.db.Base.metadata`` describes the whole schema.

Alembic's autogenerate check and the test fixtures use this module; the application itself
never creates tables (migrations do).
"""

from __future__ import annotations

from bot.approvals import tables as approvals_tables
from bot.db import Base
from bot.outbox import tables as outbox_tables
from bot.slack import deliveries as slack_tables
from bot.slack import inbox as inbox_tables
from bot.watcher import tables as watcher_tables

metadata = Base.metadata

__all__ = ["approvals_tables", "inbox_tables", "metadata", "outbox_tables", "slack_tables", "watcher_tables"]
