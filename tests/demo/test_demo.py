"""``vro-bot demo`` plays the whole incident offline and shows every key moment."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from bot.demo import expected_moments, missing_moments, run_demo


def test_the_scripted_demo_shows_every_key_moment(tmp_path: Path) -> None:
    transcript = tmp_path / "demo.txt"
    screen = io.StringIO()
    code = run_demo(speed=1e9, transcript=str(transcript), console=Console(file=screen, width=120))
    text = transcript.read_text(encoding="utf-8")
    assert code == 0, screen.getvalue()[-2000:]
    assert missing_moments(text) == []
    # The terminal got the same story, with the channel rendered as panels.
    assert "can't approve your own request" in screen.getvalue()
    assert "#dr-war-room" in screen.getvalue()


def test_the_transcript_check_names_what_is_missing() -> None:
    moments = expected_moments()
    assert missing_moments("\n".join(moments)) == []
    assert missing_moments("\n".join(moments[1:])) == [moments[0]]
