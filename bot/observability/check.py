"""The engine of ``vro-bot check``: run named dependency checks, report a verdict for each.

A :class:`DependencyCheck` is an ``async () -> str | None`` returning a short success detail,
raising :class:`CheckFailed` (what is wrong, what to do) when its dependency is not usable;
any other exception is reported with the check's default advice. Checks run in order, each
with a deadline; a check whose ``requires`` did not pass is skipped
rather than reported as a second, misleading failure. The exit code is 0 only when every
check passed.

The composition root supplies the real checks (database at head, VRO token, Slack
``auth.test``, the configuration itself); the check texts below are shared with it.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, TextIO

from bot.clock import Clock, SystemClock
from bot.observability.logging import Redactor

__all__ = [
    "DEFAULT_CHECK_TIMEOUT",
    "CheckFailed",
    "CheckReport",
    "CheckResult",
    "DependencyCheck",
    "Verdict",
    "format_report",
    "run_check_command",
    "run_checks",
]

DEFAULT_CHECK_TIMEOUT: Final = 15.0

TITLE: Final = "vro-bot check"
TIMEOUT_DETAIL: Final = "no answer within {seconds:g} s"
SKIPPED_DETAIL: Final = "not checked, because {names} did not pass"
ALL_PASSED: Final = "All {total} checks passed: the bot is ready to run."
SOME_FAILED: Final = (
    "{failed} of {total} checks did not pass: fix the items marked {mark} and run vro-bot check again."
)
CONFIG_OK: Final = "complete ({mode})"
CONFIG_MISSING: Final = "missing {names}"
CONFIG_ADVICE: Final = (
    "Set them in the environment or in a .env file in the working directory (see the README, Configuration)."
)


class CheckFailed(Exception):
    """A dependency is not usable: ``problem`` says what is wrong, ``advice`` what to do."""

    def __init__(self, problem: str, *, advice: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.advice = advice


@dataclass(frozen=True, slots=True)
class DependencyCheck:
    """One line of the report."""

    name: str
    run: Callable[[], Awaitable[str | None]]
    advice: str
    requires: tuple[str, ...] = ()


class Verdict(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    verdict: Verdict
    detail: str
    advice: str | None
    seconds: float


@dataclass(frozen=True, slots=True)
class CheckReport:
    results: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.verdict is Verdict.PASSED for r in self.results)

    @property
    def exit_code(self) -> int:
        """0 when every check passed, 1 otherwise."""
        return 0 if self.ok else 1

    def result(self, name: str) -> CheckResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)


async def run_checks(
    checks: Sequence[DependencyCheck],
    *,
    clock: Clock | None = None,
    check_timeout: float = DEFAULT_CHECK_TIMEOUT,
    redactor: Redactor | None = None,
) -> CheckReport:
    """Run ``checks`` in order and collect a verdict for each."""
    the_clock: Clock = clock or SystemClock()
    redact = redactor if redactor is not None else Redactor()
    names = [c.name for c in checks]
    if len(set(names)) != len(names):
        raise ValueError("check names must be unique")
    passed: set[str] = set()
    results: list[CheckResult] = []
    for check in checks:
        blocked = [r for r in check.requires if r not in passed]
        if blocked:
            detail = SKIPPED_DETAIL.format(names=", ".join(blocked))
            results.append(CheckResult(check.name, Verdict.SKIPPED, detail, None, 0.0))
            continue
        began = the_clock.monotonic()
        advice: str | None = check.advice
        try:
            async with asyncio.timeout(check_timeout):
                answer = await check.run()
        except CheckFailed as exc:
            verdict, detail = Verdict.FAILED, exc.problem
            advice = exc.advice or check.advice
        except TimeoutError:
            verdict, detail = Verdict.FAILED, TIMEOUT_DETAIL.format(seconds=check_timeout)
        except Exception as exc:  # an unexpected failure is still a verdict, not a crash
            message = str(exc).strip()
            verdict = Verdict.FAILED
            detail = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
        else:
            verdict, detail, advice = Verdict.PASSED, answer or "OK", None
            passed.add(check.name)
        results.append(
            CheckResult(
                check.name,
                verdict,
                redact.text(detail),
                redact.text(advice) if advice else None,
                the_clock.monotonic() - began,
            )
        )
    return CheckReport(tuple(results))


_UNICODE_MARKS: Final = {Verdict.PASSED: "✓", Verdict.FAILED: "✗", Verdict.SKIPPED: "–", "advice": "→"}
_ASCII_MARKS: Final = {Verdict.PASSED: "OK", Verdict.FAILED: "FAIL", Verdict.SKIPPED: "SKIP", "advice": "->"}


def format_report(report: CheckReport, *, unicode: bool = True) -> str:
    """The report as the terminal shows it: one line per check, advice under each failure,
    and a closing verdict."""
    marks = _UNICODE_MARKS if unicode else _ASCII_MARKS
    mark_width = max(len(m) for m in marks.values())
    name_width = max((len(r.name) for r in report.results), default=0)
    indent = " " * (2 + mark_width + 1 + name_width + 2)
    lines = [TITLE]
    for r in report.results:
        first, *more = r.detail.splitlines() or [""]
        lines.append(f"  {marks[r.verdict]:<{mark_width}} {r.name:<{name_width}}  {first}")
        lines.extend(f"{indent}{line}" for line in more)  # several problems: each under the first
        if r.advice:
            lines.append(f"{indent}{marks['advice']} {r.advice}")
    total = len(report.results)
    not_passed = sum(1 for r in report.results if r.verdict is not Verdict.PASSED)
    lines.append("")
    if not_passed:
        lines.append(SOME_FAILED.format(failed=not_passed, total=total, mark=marks[Verdict.FAILED]))
    else:
        lines.append(ALL_PASSED.format(total=total))
    return "\n".join(lines) + "\n"


def _can_encode(stream: TextIO, text: str) -> bool:
    encoding = getattr(stream, "encoding", None)
    if encoding is None:  # an in-memory text stream holds any character
        return True
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


async def run_check_command(
    checks: Sequence[DependencyCheck],
    *,
    out: TextIO | None = None,
    clock: Clock | None = None,
    check_timeout: float = DEFAULT_CHECK_TIMEOUT,
    redactor: Redactor | None = None,
) -> int:
    """Run ``checks``, print the report to ``out`` (stdout by default), return the exit code."""
    stream = out if out is not None else sys.stdout
    report = await run_checks(checks, clock=clock, check_timeout=check_timeout, redactor=redactor)
    unicode = _can_encode(stream, "".join(str(m) for m in _UNICODE_MARKS.values()))
    stream.write(format_report(report, unicode=unicode))
    stream.flush()
    return report.exit_code
