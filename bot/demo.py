"""``vro-bot demo``: an incident played end to end, offline, with no credentials.

Everything runs in this process: the VRO simulator, the Slack sandbox (on a loopback port),
SQLite in a temporary folder and the bot itself. Simulated time runs on a fake clock that the
demo moves forward, so a five-minute failover is narrated in seconds and the run is the same
every time. ``--speed`` sets how many simulated seconds pass per real second.

The script: Sam lists the plans; Olivia (operator) asks for a failover, which the readiness gate
refuses (no check has run on the plan); she presses "Run readiness check now" and the check
runs and passes; she asks again with a reason; her own approval is refused; the failover needs
a DR lead and an app owner: Priya holds both roles and approves, and the card says one more is
needed from either group; Lee (DR lead) approves, so Priya counts as the app owner; the watcher
narrates the failover in the card's thread, and the summary (with the RTO) lands in the channel.
``--interactive`` hands the keyboard to you instead.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from bot.approvals.policy import Policy
from bot.clock import FakeClock
from bot.demo_help import INTERACTIVE_HELP
from bot.offline import OfflineStack, offline_stack
from bot.sandbox.transcript import ButtonRef, Transcript, render_blocks, render_channel
from bot.slack.blocks.approvals import RUN_CHECK_LABEL
from bot.watcher.service import WatcherConfig
from bot.watcher.tables import active_watches

CHANNEL = "C0DRWARROOM"
CHANNEL_NAME = "dr-war-room"
USERS = {
    "U0OLIVIA": "olivia",
    "U0LEE": "lee",
    "U0PRIYA": "priya",
    "U0SAM": "sam",
}
OPERATOR, LEAD1, LEAD2, VIEWER = "U0OLIVIA", "U0LEE", "U0PRIYA", "U0SAM"
PLAN = "SAP Tier1"
REASON = "INC-4711: site A lost power"

DEMO_POLICY = f"""
channels: [{CHANNEL}]
roles:
  viewer:    {{users: ["*"]}}
  operator:  {{users: [{OPERATOR}]}}
  approver:  {{users: [{LEAD1}, {LEAD2}]}}
  dr_lead:   {{users: [{LEAD1}, {LEAD2}]}}
  app_owner: {{users: [{LEAD2}]}}
defaults: {{role: operator, approvals: 1, approver_role: approver, ttl_minutes: 30, reason_required: false}}
actions:
  failover:
    approvals: {{all_of: [{{role: dr_lead, count: 1}}, {{role: app_owner, count: 1}}]}}
    require_check: {{max_age_hours: 24}}
    reason_required: true
  check: {{approvals: 0}}
plans:
  "{PLAN}": {{rto_minutes: 30}}
"""

DEFAULT_SPEED = 40.0  # simulated seconds per real second
TICK_SECONDS = 5.0  # simulated seconds per step of the clock
MAX_SIMULATED_SECONDS = 3600.0


@dataclass
class Recorder:
    """Prints to the terminal with rich and keeps a plain transcript for files and CI.

    Each thing in the channel is printed once: :meth:`show` prints what was posted or edited
    since the last time, as the given user sees it (their private answers included).
    """

    console: Console
    lines: list[str] = field(default_factory=list)
    shown_ts: str | None = None

    def say(self, text: str, *, style: str = "bold cyan") -> None:
        self.console.print(Text(text, style=style))
        self.lines.append(text)

    def show(
        self, stack: OfflineStack, *, viewer: str | None, title: str | None = None
    ) -> dict[int, ButtonRef]:
        """Print what changed in the channel since the last call (nothing if nothing did)."""
        whole = render_channel(stack.sandbox.workspace, CHANNEL, viewer=viewer)
        self._show(whole.since(self.shown_ts), title=title or _seen_by(viewer))
        self.shown_ts = whole.latest_ts or self.shown_ts
        return whole.buttons

    def show_all(self, stack: OfflineStack, *, viewer: str | None) -> dict[int, ButtonRef]:
        """Print the whole channel as ``viewer`` sees it."""
        whole = render_channel(stack.sandbox.workspace, CHANNEL, viewer=viewer)
        self._show(whole, title=_seen_by(viewer))
        self.shown_ts = whole.latest_ts or self.shown_ts
        return whole.buttons

    def _show(self, transcript: Transcript, *, title: str) -> None:
        if not transcript.lines_detail:
            return
        self.console.print(transcript.rich(title=title))
        self.lines.append(f"--- {title} ---")
        self.lines.extend(transcript.lines)

    def form(self, stack: OfflineStack, user: str) -> None:
        """Say that a form opened for ``user`` and what it asks."""
        modal = stack.sandbox.workspace.open_modal(user)
        if modal is None:
            return
        title = str((modal.view.get("title") or {}).get("text", "form"))
        self.say(f"  (a form opens for {USERS[user]}: {title})", style="yellow")
        for line in render_blocks(modal.view.get("blocks") or [], names=USERS):
            self.say(f"    {line}", style="dim")


def _seen_by(viewer: str | None) -> str:
    return f"#{CHANNEL_NAME}" if viewer is None else f"#{CHANNEL_NAME}, as {USERS[viewer]} sees it"


def run_demo(
    *,
    interactive: bool = False,
    speed: float | None = None,
    db_url: str | None = None,
    transcript: str | None = None,
    console: Console | None = None,
    socket_mode: bool = False,
    reader: Callable[[str], str] = input,
) -> int:
    """Entry point of ``vro-bot demo``; returns the exit code. ``reader`` reads a line of the
    interactive demo (``input`` by default; it raises :class:`EOFError` at the end)."""
    out = console or Console()
    pace = speed if speed and speed > 0 else DEFAULT_SPEED
    with tempfile.TemporaryDirectory(prefix="vro-bot-demo-") as folder:
        url = db_url or f"sqlite:///{Path(folder) / 'demo.db'}"
        recorder = Recorder(out)
        try:
            code = asyncio.run(
                _demo(
                    recorder,
                    url=url,
                    pace=pace,
                    interactive=interactive,
                    socket_mode=socket_mode,
                    reader=reader,
                )
            )
        except KeyboardInterrupt:
            code = 130
        if transcript:
            Path(transcript).write_text("\n".join(recorder.lines) + "\n", encoding="utf-8")
        return code


async def _demo(
    recorder: Recorder,
    *,
    url: str,
    pace: float,
    interactive: bool,
    socket_mode: bool = False,
    reader: Callable[[str], str] = input,
) -> int:
    clock = FakeClock()
    async with offline_stack(
        database_url=url,
        clock=clock,
        policy=Policy.from_yaml(DEMO_POLICY, source="demo policy"),
        users=USERS,
        channels={CHANNEL: CHANNEL_NAME},
        watcher_config=WatcherConfig(poll_seconds=TICK_SECONDS, batch_seconds=15.0, card_interval=5.0),
        instance_id="demo",
        socket_mode=socket_mode,
    ) as stack:
        if socket_mode:
            recorder.say(
                "The bot is connected to the sandbox in Socket Mode (an app token, a websocket).", style="dim"
            )
        if interactive:
            return await _interactive(stack, clock, recorder, pace, reader=reader)
        return await _scripted(stack, clock, recorder, pace)


async def _command(stack: OfflineStack, recorder: Recorder, user: str, text: str) -> dict[int, ButtonRef]:
    """Type ``/vro text`` as ``user`` and print every answer they see (mistakes included)."""
    recorder.say(f"@{USERS[user]} types: /vro {text}".rstrip(), style="bold green")
    modal_before = stack.sandbox.workspace.open_modal(user)
    response = await stack.driver.command(text, user_id=user, channel_id=CHANNEL)
    if response.status_code != 200:
        recorder.say(f"(the bot answered HTTP {response.status_code})", style="red")
    await stack.settle()
    await stack.bot.sender.send_due()
    if stack.sandbox.workspace.open_modal(user) not in (None, modal_before):
        recorder.form(stack, user)
    return recorder.show(stack, viewer=user)


async def _press(stack: OfflineStack, recorder: Recorder, user: str, ref: ButtonRef) -> dict[int, ButtonRef]:
    recorder.say(f"@{USERS[user]} presses [{ref.text}]", style="bold green")
    await stack.driver.press(ref, user_id=user)
    await stack.settle()
    await stack.bot.sender.send_due()
    return recorder.show(stack, viewer=user)


async def _press_label(
    stack: OfflineStack, recorder: Recorder, user: str, label: str, *, private: bool = False
) -> None:
    """Press the newest button called ``label`` in the channel (or in ``user``'s private answers)."""
    buttons = render_channel(stack.sandbox.workspace, CHANNEL, viewer=user).buttons
    ref = next(
        (
            b
            for b in reversed(buttons.values())
            if b.text == label and (b.ephemeral_for is not None) == private
        ),
        None,
    )
    if ref is None:
        recorder.say(f"(no {label} button to press)", style="red")
        return
    await _press(stack, recorder, user, ref)


async def _scripted(stack: OfflineStack, clock: FakeClock, recorder: Recorder, pace: float) -> int:
    recorder.say(f"vro-chatops demo: an incident in #{CHANNEL_NAME} (simulated VRO, offline Slack)")
    recorder.say(
        "Policy: failover needs a reason, a readiness check passed in the last 24 hours, and approval "
        "from a DR lead (lee, priya) and an app owner (priya), one person counting once; checks run at once; "
        f"RTO of {PLAN}: 30 minutes.",
        style="dim",
    )
    if stack.bot.socket_mode is not None:
        recorder.say(
            "Slack reaches the bot in Socket Mode: an app token and a websocket, no public URL.", style="dim"
        )

    await _command(stack, recorder, VIEWER, "plans")
    await _command(stack, recorder, OPERATOR, f'failovr "{PLAN}"')  # a typo gets a suggestion

    await _command(stack, recorder, OPERATOR, f'failover "{PLAN}" --reason "{REASON}"')  # the gate
    await _press_label(stack, recorder, OPERATOR, RUN_CHECK_LABEL, private=True)
    await _run_until_idle(stack, clock, recorder, pace, label="Readiness check")
    recorder.show(stack, viewer=None, title=f"#{CHANNEL_NAME}: the readiness check")

    await _command(stack, recorder, OPERATOR, f'failover "{PLAN}" --reason "{REASON}"')
    await _press_label(stack, recorder, OPERATOR, "Approve")  # her own request: refused
    await _press_label(stack, recorder, LEAD2, "Approve")  # priya holds both roles: counts once
    await _press_label(stack, recorder, LEAD1, "Approve")  # a DR lead: priya becomes the app owner
    recorder.say(
        "A DR lead and an app owner approved: the failover is sent to VRO once; the watcher takes over."
    )

    finished = await _run_until_idle(stack, clock, recorder, pace, label=f"Failover of {PLAN}")
    recorder.show(stack, viewer=None, title=f"#{CHANNEL_NAME}: the failover")
    if not finished:
        recorder.say("The failover did not finish within the demo's time limit.", style="red")
        return 1
    recorder.say("Done. Try `vro-bot demo --interactive` to drive it yourself.")
    return 0


async def _run_until_idle(
    stack: OfflineStack, clock: FakeClock, recorder: Recorder, pace: float, *, label: str
) -> bool:
    """Move simulated time until the plan is stable, its watch closed and the outbox empty."""
    plan_id = stack.sim.plan_id(PLAN)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
        console=recorder.console,
        transient=False,
    )
    elapsed = 0.0
    with progress:
        task = progress.add_task(label, total=100, state="")
        while elapsed < MAX_SIMULATED_SECONDS:
            started = time.monotonic()
            clock.advance(TICK_SECONDS)
            elapsed += TICK_SECONDS
            await stack.pump()
            runtime = await stack.bot.vro.get_plan_runtime(plan_id)
            progress.update(task, completed=float(runtime.totalProgress), state=runtime.stateName or "")
            if (
                not runtime.isRunningState
                and await stack.bot.sender.pending_count() == 0
                and await _active_watches(stack) == 0
            ):
                recorder.lines.append(f"{label}: {runtime.stateName} ({runtime.resultName})")
                return True
            pause = TICK_SECONDS / pace - (time.monotonic() - started)
            if pause > 0:
                await asyncio.sleep(pause)
    return False


async def _active_watches(stack: OfflineStack) -> int:
    return await active_watches(stack.bot.sessions)


# --- what a good run shows (CI checks the transcript with this) -------------------------------


def expected_moments() -> list[str]:
    """Lines a correct run of the scripted demo must contain, in its plain transcript."""
    from bot.simulator.estate import default_estate

    plan = next(p for p in default_estate().plans if p.name == PLAN)
    return [
        f"{PLAN} DR Test",  # the plan list Sam sees
        "Did you mean `failover`?",  # the answer to Olivia's typo
        "No readiness check has run on this plan.",  # the readiness gate refused the first ask
        RUN_CHECK_LABEL,  # ... and offered the check
        "can't approve your own request",  # Olivia's self-approval refused
        "still needs 1 more approval from dr_lead or app_owner",  # Priya counted once
        f"VRO accepted *Failover* for *{PLAN}*",  # sent once after Lee's approval
        *(f"Group *{group.name}* started" for group in plan.groups),  # every group narrated
        f"Failover of {PLAN} finished",  # the summary
        "RTO 30m 00s",  # measured against the plan's RTO
        f"approved by @{USERS[LEAD2]}, @{USERS[LEAD1]}",
    ]


def missing_moments(transcript: str) -> list[str]:
    """The expected moments absent from ``transcript`` (empty when the run was right)."""
    return [moment for moment in expected_moments() if moment not in transcript]


# --- interactive --------------------------------------------------------------------------------


async def _interactive(
    stack: OfflineStack,
    clock: FakeClock,
    recorder: Recorder,
    pace: float,
    *,
    reader: Callable[[str], str] = input,
) -> int:
    by_name = {name: uid for uid, name in USERS.items()}
    user = OPERATOR
    recorder.console.print(Panel(INTERACTIVE_HELP, title="vro-chatops demo (interactive)", expand=False))
    buttons: dict[int, ButtonRef] = {}
    ticker = asyncio.create_task(_tick_forever(stack, clock, pace))
    try:
        while True:
            line = await asyncio.to_thread(_read, f"{USERS[user]}> ", reader)
            if line is None or line.strip() in ("quit", "exit"):
                return 0
            try:
                words = shlex.split(line) if line.strip() else []
            except ValueError as exc:  # an unbalanced quote
                recorder.say(f"  ({exc}; close the quotes and try again)", style="red")
                continue
            if not words:
                continue
            if words[0] == "as" and len(words) == 2 and words[1].lstrip("@") in by_name:
                user = by_name[words[1].lstrip("@")]
                recorder.say(f"  (you are now {USERS[user]})", style="dim")
            elif words[0] == "/vro":
                buttons = await _command(stack, recorder, user, line.strip()[len("/vro") :].strip())
            elif words[0] == "press" and len(words) == 2 and words[1].isdigit() and int(words[1]) in buttons:
                buttons = await _press(stack, recorder, user, buttons[int(words[1])])
            elif words[0] == "press":
                recorder.say("  (no such button: press a number shown in [brackets])", style="red")
            elif words[0] == "wait":
                seconds = float(words[1]) if len(words) > 1 and _is_number(words[1]) else 60.0
                for _ in range(max(1, int(seconds / TICK_SECONDS))):
                    clock.advance(TICK_SECONDS)
                    await stack.pump()
                buttons = recorder.show(stack, viewer=user)
            elif words[0] == "show":
                buttons = recorder.show_all(stack, viewer=user)
            else:
                recorder.console.print(INTERACTIVE_HELP)
    finally:
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)


async def _tick_forever(stack: OfflineStack, clock: FakeClock, pace: float) -> None:
    while True:
        await asyncio.sleep(TICK_SECONDS / pace)
        clock.advance(TICK_SECONDS)
        await stack.pump()


def _read(prompt: str, reader: Callable[[str], str] = input) -> str | None:
    try:
        return reader(prompt)
    except EOFError:
        return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_transcript_file(path: str) -> int:
    """``python -m bot.demo --check FILE``: exit 1 naming each moment a transcript lacks."""
    missing = missing_moments(Path(path).read_text(encoding="utf-8"))
    for moment in missing:
        print(f"demo transcript lacks: {moment}", file=sys.stderr)  # noqa: T201 - a CI check speaks
    return 1 if missing else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        sys.exit(check_transcript_file(sys.argv[2]))
    sys.exit(run_demo())
