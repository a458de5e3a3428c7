"""The demo's interactive syntax, in one place for ``vro-bot demo --help``, the prompt and the README."""

from __future__ import annotations

from typing import Final

INTERACTIVE_HELP: Final = """\
Interactive commands (vro-bot demo --interactive):
  /vro <text>       run a slash command as the current user, e.g. /vro plans,
                    /vro status "SAP Tier1", /vro failover "SAP Tier1" --reason "INC-1";
                    /vro alone opens the form
  as <user>         switch user: olivia (operator), lee (DR lead), priya (DR lead and
                    app owner), sam (viewer)
  press <n>         press button number n, as numbered in what was shown
  wait [seconds]    let simulated time pass (default 60) and show what happened
  show              show the whole channel as the current user sees it
  help              show this list
  quit              leave (or Ctrl-D)"""
