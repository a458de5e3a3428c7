"""``vro-bot demo`` plays the whole incident offline and shows every key moment."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from bot.demo import expected_moments, missing_moments, run_demo
from bot.demo_help import INTERACTIVE_HELP


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


def play(lines: list[str], tmp_path: Path, *, width: int = 100) -> tuple[str, str]:
    """Run the interactive demo on ``lines`` (then end of input); the screen and the transcript."""
    pending = iter(lines)

    def reader(_prompt: str) -> str:
        line = next(pending, None)
        if line is None:
            raise EOFError
        return line

    transcript = tmp_path / "interactive.txt"
    screen = io.StringIO()
    code = run_demo(
        interactive=True,
        speed=1.0,  # no simulated time passes on its own while the lines are played
        transcript=str(transcript),
        console=Console(file=screen, width=width),
        reader=reader,
    )
    assert code == 0, screen.getvalue()[-2000:]
    return screen.getvalue(), transcript.read_text(encoding="utf-8")


def test_every_answer_to_a_mistake_is_shown(tmp_path: Path) -> None:
    _, text = play(["/vro frobnicate", "/vro status", '/vro failovr "SAP Tier1"'], tmp_path)
    assert "I don't know the command “frobnicate”" in text
    assert "Which plan? `status` needs a plan name or id." in text
    assert "Usage: `/vro status <plan> [--public]`" in text  # shown as typed, not as a link
    assert "Did you mean `failover`?" in text
    assert text.count("only visible to you") == 3  # one answer each, shown once


def test_vro_alone_says_the_form_opened(tmp_path: Path) -> None:
    _, text = play(["/vro"], tmp_path)
    assert "(a form opens for olivia:" in text


def test_emoji_show_as_emoji_and_wrapped_lines_keep_their_margin(tmp_path: Path) -> None:
    screen, _ = play(['/vro failovr "SAP Tier1"'], tmp_path, width=60)
    assert "⚠" in screen
    assert ":warning:" not in screen
    lines = screen.splitlines()
    answer = next(i for i, line in enumerate(lines) if "I don't know the command" in line)
    assert lines[answer].startswith("│   ⚠")
    assert lines[answer + 1].startswith("│   "), lines[answer : answer + 2]  # the wrap keeps the margin
    assert lines[answer + 1][4] != " "


def test_the_channel_name_is_printed_once_per_panel(tmp_path: Path) -> None:
    screen, _ = play(["/vro plans"], tmp_path)
    panel_titles = [line for line in screen.splitlines() if "#dr-war-room" in line]
    assert len(panel_titles) == 1, panel_titles


def test_the_demo_runs_over_socket_mode(tmp_path: Path) -> None:
    transcript = tmp_path / "socket.txt"
    screen = io.StringIO()
    code = run_demo(
        speed=1e9, transcript=str(transcript), console=Console(file=screen, width=120), socket_mode=True
    )
    text = transcript.read_text(encoding="utf-8")
    assert code == 0, screen.getvalue()[-2000:]
    assert "Socket Mode" in text
    assert missing_moments(text) == []


def test_the_readme_shows_the_interactive_syntax_that_demo_help_prints() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert f"```\n{INTERACTIVE_HELP}\n```" in readme
