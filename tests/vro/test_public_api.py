"""The public front ``bot.vro`` exports exactly what it lists, and the brief's names exist."""

from __future__ import annotations

import bot.vro


def test_all_names_exist_and_are_unique() -> None:
    """Every name in __all__ resolves, and none is listed twice."""
    assert len(bot.vro.__all__) == len(set(bot.vro.__all__))
    for name in bot.vro.__all__:
        assert getattr(bot.vro, name) is not None, name


def test_every_public_name_of_the_front_is_listed() -> None:
    """Nothing public is importable from bot.vro without being in __all__ (modules aside)."""
    public = {
        name
        for name, value in vars(bot.vro).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("bot.vro")
    }
    assert public <= set(bot.vro.__all__), sorted(public - set(bot.vro.__all__))


def test_the_interface_other_teams_code_against() -> None:
    """The names in the team brief's section A are exported."""
    expected = {
        "VroClient",
        "RetryPolicy",
        "PasswordCredentials",
        "ClientCredentialsGrant",
        "Credentials",
        "PlanAction",
        "ActionResult",
        "perform",
        "F",
        "Sort",
        "VroError",
        "VroUnavailable",
        "VroAuthError",
        "VroMfaRequired",
        "VroNotFound",
        "VroRejected",
        "VroUnexpected",
    }
    assert expected <= set(bot.vro.__all__)
