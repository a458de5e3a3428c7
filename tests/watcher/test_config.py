"""bot.runtime.watcher_config_from: WatcherConfig from the environment's settings."""

from __future__ import annotations

from bot.config import load_settings
from bot.runtime import watcher_config_from


def test_poll_bounds_and_announce_channel_come_from_the_settings() -> None:
    settings = load_settings(
        {"VRO_BOT_POLL_SECONDS": "3", "VRO_BOT_POLL_MAX_SECONDS": "45", "VRO_BOT_ANNOUNCE_CHANNEL": "C0ALL"}
    )
    config = watcher_config_from(settings, batch_seconds=10)
    assert (config.poll_seconds, config.poll_max_seconds, config.announce_channel) == (3, 45, "C0ALL")
    assert config.batch_seconds == 10


def test_the_slowest_poll_is_never_faster_than_the_running_one() -> None:
    settings = load_settings({"VRO_BOT_POLL_SECONDS": "90", "VRO_BOT_POLL_MAX_SECONDS": "60"})
    config = watcher_config_from(settings)
    assert config.poll_max_seconds == 90
    assert config.announce_channel is None
