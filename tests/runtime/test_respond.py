"""Replies go where the operator said: response_urls follow SLACK_API_URL off Slack's hosts."""

from __future__ import annotations

from bot.slack.respond import route_response_url

HOOK = "https://hooks.slack.com/commands/T0001/12345/abcdef"


def test_with_slacks_own_api_url_the_response_url_is_used_as_given() -> None:
    assert route_response_url(HOOK, "https://slack.com/api/") == HOOK


def test_a_custom_api_url_takes_hooks_to_the_same_host_with_the_path_kept() -> None:
    routed = route_response_url(HOOK, "https://slack-proxy.corp.local:8443/api/")
    assert routed == "https://slack-proxy.corp.local:8443/commands/T0001/12345/abcdef"


def test_urls_that_are_not_slack_hooks_are_left_alone() -> None:
    sandbox_hook = "http://127.0.0.1:5555/hooks/h1"
    assert route_response_url(sandbox_hook, "http://127.0.0.1:5555/api/") == sandbox_hook
