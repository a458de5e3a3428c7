"""The one message type: what every card, reply, narration and outbox row carries to Slack.

Block Kit builders return it, the watcher renders it, the outbox stores its :meth:`payload`
and the Slack clients post it with ``**message.payload()``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Block = dict[str, Any]


@dataclass(frozen=True)
class Message:
    """What Slack shows: the notification / fallback ``text`` and the Block Kit ``blocks``."""

    text: str
    blocks: Sequence[Block] = ()

    def payload(self) -> dict[str, Any]:
        """``{"text": ..., "blocks": [...]}``: the keyword arguments of ``chat.postMessage`` /
        ``chat.update`` / ``respond``, and what the outbox stores (plain, JSON-ready copies)."""
        return {"text": self.text, "blocks": [dict(b) for b in self.blocks]}

    def digest(self) -> str:
        """A hash of what Slack would show: two messages with the same digest need no edit."""
        return hashlib.sha256(json.dumps(self.payload(), sort_keys=True).encode()).hexdigest()
