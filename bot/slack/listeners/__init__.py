"""The Bolt listeners, one module per surface of the app.

* :mod:`.commands` — ``/vro`` and the Prev / Next buttons that re-run a listing;
* :mod:`.decisions` — Approve / Deny on approval cards and in the Home tab;
* :mod:`.plan_buttons` — the buttons of a plan's detail and of a halt notice;
* :mod:`.modal` — the command form: opening, filling in the plan, suggestions, submission;
* :mod:`.home` — the App Home tab.

Each reads its payload once into a :mod:`bot.slack.payloads` model, acks, and hands the work
to :class:`~bot.slack.work.BackgroundWork`; :class:`.edge.Edge` holds what they share.
"""
