"""CPU per request of the VRO client on the watcher's hot path: RuntimeDetails GETs, 8 at a time.

The answers are the simulator's own (a running failover of 2 groups x 5 VMs x 5 steps, as in
``bench.watcher_scale``), taken once through ``httpx.ASGITransport`` and then served verbatim by a
tiny HTTP/1.1 keep-alive server in a child process on loopback: the server costs next to no CPU,
so it disturbs the measured process (and its neighbours) as little as possible. The measured
process runs the real :class:`~bot.vro.client.VroClient` over real sockets: the plan, its groups,
a group's VMs and a VM's steps, in turn, from ``--concurrency`` tasks at once.

Printed as ``key=value`` lines (CPU of this process only, ``time.process_time``), per round and
as the median of the rounds. CPU timings are noisy on a shared machine: compare two versions
interleaved (A/B/A/B), never one run each.

Run: ``.venv/bin/python -m bench.vro_requests [--requests 4000 --rounds 5 --concurrency 8]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import socket
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from bot.clock import FakeClock
from bot.simulator.app import create_simulator
from bot.simulator.generate import generate_estate
from bot.vro.auth import TOKEN_PATH, PasswordCredentials
from bot.vro.client import RetryPolicy, VroClient

USER, PASSWORD = "vro-bot", "vro-bot-demo"
Answers = dict[str, bytes]  # "METHOD /path" (no query) -> the whole HTTP response


def _response(status: int, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}\r\n"
        "date: Thu, 01 Jan 2026 00:00:00 GMT\r\nserver: vro-bench\r\n"
        f"content-type: application/json; charset=utf-8\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


async def record_answers() -> tuple[Answers, str, dict[str, str]]:
    """The simulator's answers to the four RuntimeDetails reads of a running failover."""
    clock = FakeClock()
    estate = generate_estate(plans=1, groups=2, vms_per_group=5, steps_per_vm=5, step_seconds=30, seed=3)
    sim = create_simulator(clock=clock, estate=estate)
    plan = estate.plans[0]
    ids = {"plan": plan.id, "group": plan.groups[0].id, "vm": plan.groups[0].vms[0].id}
    async with VroClient(
        base_url="http://vro.bench",
        credentials=PasswordCredentials(USER, PASSWORD),
        transport=httpx.ASGITransport(app=sim),
        clock=clock,
    ) as vro:
        version = await vro.negotiate()
        await vro.failover(ids["plan"])
    clock.advance(45)  # the first VMs are on their second step
    answers: Answers = {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim), base_url="http://vro.bench") as http:
        login = {"grant_type": "password", "username": USER, "password": PASSWORD}
        token = await http.post(TOKEN_PATH, data=login)
        answers[f"POST {TOKEN_PATH}"] = _response(200, token.content)
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        base = f"/api/{version}/RuntimeDetails/Plans/{ids['plan']}"
        for path in (
            base,
            f"{base}/Groups",
            f"{base}/Groups/{ids['group']}",
            f"{base}/Vms/{ids['vm']}/Steps",
        ):
            answer = await http.get(path, headers=headers)
            answer.raise_for_status()
            answers[f"GET {path}"] = _response(200, answer.content)
    return answers, version, ids


async def _serve_connection(
    answers: Answers, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    not_found = _response(404, b'{"message": "not found"}')
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, _ = head.split(b"\r\n", 1)[0].decode("ascii").split(" ", 2)
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    await reader.readexactly(int(value))
            writer.write(answers.get(f"{method} {target.split('?', 1)[0]}", not_found))
    writer.close()


def serve(answers: Answers, listener: socket.socket) -> None:
    """The child process: answers each request from ``answers``, keeping connections alive."""

    async def run() -> None:
        server = await asyncio.start_server(
            lambda r, w: _serve_connection(answers, r, w), sock=listener, backlog=64
        )
        async with server:
            await server.serve_forever()

    asyncio.run(run())


async def measure(port: int, version: str, ids: dict[str, str], args: argparse.Namespace) -> list[float]:
    vro = VroClient(
        base_url=f"http://127.0.0.1:{port}",
        credentials=PasswordCredentials(USER, PASSWORD),
        api_version=version,
        retry=RetryPolicy.never(),
    )
    reads: list[Callable[[], Awaitable[Any]]] = [
        lambda: vro.get_plan_runtime(ids["plan"]),
        lambda: vro.get_groups_runtime(ids["plan"], start=0, limit=100),
        lambda: vro.get_group_vms_runtime(ids["plan"], ids["group"], start=0, limit=100),
        lambda: vro.get_vm_steps_runtime(ids["plan"], ids["vm"], start=0, limit=100),
    ]

    async def worker(first: int, count: int) -> None:
        for n in range(first, first + count):
            await reads[n % len(reads)]()

    async def batch(total: int) -> None:
        share = total // args.concurrency
        await asyncio.gather(*(worker(i, share) for i in range(args.concurrency)))

    per_request: list[float] = []
    async with vro:
        await batch(50 * args.concurrency)  # log in, open the connections, warm the caches
        for round_no in range(1, args.rounds + 1):
            total = args.requests // args.concurrency * args.concurrency
            cpu0, wall0 = time.process_time(), time.perf_counter()
            await batch(total)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            per_request.append(1e6 * cpu / total)
            print(
                f"round={round_no} requests={total} cpu_s={cpu:.3f} wall_s={wall:.3f} "
                f"cpu_us_per_request={per_request[-1]:.1f} requests_per_s={total / wall:.0f}"
            )
    return per_request


async def main(args: argparse.Namespace) -> None:
    answers, version, ids = await record_answers()
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    port = listener.getsockname()[1]
    child = multiprocessing.get_context("spawn").Process(target=serve, args=(answers, listener), daemon=True)
    child.start()
    listener.close()
    try:
        per_request = await measure(port, version, ids, args)
    finally:
        child.terminate()
        child.join(10)
    print(f"concurrency={args.concurrency}")
    print(f"rounds={args.rounds}")
    print(f"cpu_us_per_request={statistics.median(per_request):.1f}")
    print(f"cpu_us_per_request_min={min(per_request):.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=4000, help="GETs per measured round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    asyncio.run(main(parser.parse_args()))
