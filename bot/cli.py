"""``vro-bot`` command line. Parses arguments and hands over; each command lives in its module."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from datetime import datetime

from bot.dates import SINCE_EXAMPLES, parse_since
from bot.demo_help import INTERACTIVE_HELP


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vro-bot", description="Run Veeam Recovery Orchestrator from Slack."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="run the bot (HTTP mode, or Socket Mode when SLACK_APP_TOKEN is set)")
    sub.add_parser("check", help="validate the configuration, reach VRO and Slack, and report")

    demo = sub.add_parser(
        "demo",
        help="play an incident end to end, offline, with no credentials",
        description="Play an incident end to end, offline, with no credentials.",
        epilog=INTERACTIVE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--interactive", action="store_true", help="type /vro commands yourself")
    demo.add_argument("--speed", type=float, default=None, help="simulated seconds per real second")
    demo.add_argument("--db", default=None, help="database URL (default: SQLite in a temporary folder)")
    demo.add_argument("--transcript", default=None, help="also write a plain-text transcript to this file")
    demo.add_argument(
        "--socket-mode",
        action="store_true",
        help="reach the bot over Socket Mode (an app token and a websocket) instead of signed HTTP",
    )

    sim = sub.add_parser("simulator", help="serve the VRO simulator")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=9898)
    sim.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    sim.add_argument("--scenario", default=None, help="estate file (JSON) to load instead of the default")
    sim.add_argument(
        "--api-version",
        default=None,
        help="the VRO release to be, by its newest API version (v7.21, v13, v13.1, v13.2: it serves "
        "what that release serves; default: the newest) or an exact list (v7.21,v13)",
    )
    sim.add_argument(
        "--timezone", default=None, help="the server's time zone: plan times are written without offset in it"
    )
    sim.add_argument(
        "--tls", action="store_true", help="serve HTTPS with a generated self-signed certificate"
    )
    sim.add_argument(
        "--cert-dir", default=None, help="where --tls writes its certificate (default: temp dir)"
    )
    sim.add_argument("--instant", action="store_true", help="every run ends the moment it starts")
    sim.add_argument(
        "--clock-offset-hours",
        type=float,
        default=0.0,
        help="the simulated server's clock is off by this many hours (negative: behind)",
    )

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply migrations up to head")
    db_sub.add_parser("current", help="show the database's revision and the code's head")

    audit = sub.add_parser("audit", help="the approval audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    export = audit_sub.add_parser("export", help="export the audit log")
    export.add_argument(
        "--since",
        type=_since,
        default=None,
        help=f"only entries at or after this moment (UTC), e.g. {SINCE_EXAMPLES}",
    )
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--output", default="-", help="file to write (default: stdout)")
    audit_sub.add_parser("verify", help="check the audit log's hash chain; exit 1 naming the first bad row")

    report = sub.add_parser("report", help="runs since a date: who asked and approved, duration, RTO, result")
    report.add_argument(
        "--since",
        type=_since,
        required=True,
        help=f"runs started at or after this moment, e.g. {SINCE_EXAMPLES}",
    )
    report.add_argument("--format", choices=("md", "csv"), default="md")
    report.add_argument("--output", default="-", help="file to write (default: stdout)")
    return parser


def _since(text: str) -> datetime:
    """``--since``: a date people type (``yesterday``, ``3 days ago``, ``2026-11-01``), from now."""
    from bot.clock import SystemClock

    try:
        return parse_since(text, now=SystemClock().now())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _stop_on_signals_while_starting() -> None:
    """Until ``vro-bot run`` has its event loop's handlers, SIGTERM or SIGINT ends it with exit 0.

    Start-up (imports, settings, the policy file) takes a second or more; a SIGTERM then (an
    orchestrator scaling down, a deploy rolled back) would otherwise kill the process with -15,
    and a Ctrl-C print a traceback, which supervisors and people read as a crash. Nothing has
    reached Slack or VRO yet, so stopping is all there is to do. The loop's own handlers replace
    these once it runs.

    The handler leaves at once (``os._exit`` after flushing what was printed) rather than raise
    ``SystemExit``: an exception raised from a signal handler can land in a ``__del__`` or a
    weakref callback, where Python only reports it, and start-up would then go on, or stay
    blocked reading a policy file that never ends, with the signal spent.
    """

    def stop(signum: int, frame: object) -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vro-bot`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "run":
        _stop_on_signals_while_starting()
    from bot.config import ConfigError, load_settings

    try:
        if args.command == "simulator":
            from bot.simulator.serve import run_simulator

            return run_simulator(
                host=args.host,
                port=args.port,
                speed=args.speed,
                scenario=args.scenario,
                api_version=args.api_version,
                timezone=args.timezone,
                tls=args.tls,
                cert_dir=args.cert_dir,
                instant=args.instant,
                clock_offset_hours=args.clock_offset_hours,
            )
        if args.command == "demo":
            from bot.demo import run_demo

            return run_demo(
                interactive=args.interactive,
                speed=args.speed,
                db_url=args.db,
                transcript=args.transcript,
                socket_mode=args.socket_mode,
            )

        settings = load_settings()
        if args.command == "db":
            from bot.migrate import current, upgrade

            if args.db_command == "upgrade":
                upgrade(settings.database_url)
                print("Database is at the latest revision.")
                return 0
            print(current(settings.database_url))
            return 0
        if args.command == "audit":
            if args.audit_command == "verify":
                from bot.approvals.verify import verify_audit

                return verify_audit(settings.database_url)
            from bot.approvals.export import export_audit

            return export_audit(settings.database_url, since=args.since, fmt=args.format, output=args.output)
        if args.command == "report":
            from bot.approvals.report import run_report

            return run_report(settings.database_url, since=args.since, fmt=args.format, output=args.output)
        if args.command == "check":
            from bot.runtime import check

            return check(settings)
        from bot.runtime import run

        return run(settings)
    except ConfigError as exc:
        print(f"vro-bot: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
