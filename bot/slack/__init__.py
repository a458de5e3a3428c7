"""The Slack face of the bot: command grammar, name resolution, help and Block Kit builders.

The modules here are pure (no I/O, no Bolt); the Bolt app that uses them lives in ``app.py``.
"""
