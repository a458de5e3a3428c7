"""Dockerfile, .dockerignore and compose.yml stay consistent with CI, pyproject and the code.

``docker build`` cannot run on the CI machines, so these tests hold the image to the commands
CI does run: the same venv + pip steps as ``.ci/run`` (minus the dev extra), the files
``pip install .`` needs, the port and health path the code serves, the command the CLI has.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import sysconfig
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from bot.config import DEFAULT_HTTP_PORT, load_settings
from bot.observability.health import HEALTHZ_PATH, create_health_app, health_server
from bot.observability.metrics import create_metrics

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "compose.yml"
CI_RUN = ROOT / ".ci" / "run"
PYPROJECT = ROOT / "pyproject.toml"
CONSTRAINTS = ROOT / "constraints.txt"


# -- a small Dockerfile reader -------------------------------------------------------------


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"no {keyword} in the stage FROM {self.image}"
        return found[-1]


def read_dockerfile() -> list[Stage]:
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = args.split()
            stages.append(Stage(image=parts[0], name=parts[2] if len(parts) > 2 else None))
        else:
            assert stages, "instruction before FROM"
            stages[-1].instructions.append((keyword, args.strip()))
    return stages


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list)
    return [str(v) for v in value]


def shell_commands(script: str) -> list[list[str]]:
    """The simple commands of a shell line (split on && and ;)."""
    return [shlex.split(part) for part in re.split(r"&&|;", script) if part.strip()]


def install_steps(commands: list[list[str]]) -> list[tuple[str, ...]]:
    """venv creation and pip installs, normalised: interpreter and venv paths dropped, editable
    installs and extras folded into the plain project install."""
    steps: list[tuple[str, ...]] = []
    for argv in commands:
        if len(argv) >= 3 and Path(argv[0]).name in ("python", "python3") and argv[1:3] == ["-m", "venv"]:
            steps.append(("venv",))
        elif len(argv) >= 2 and Path(argv[0]).name == "pip" and argv[1] == "install":
            args = [a for a in argv[2:] if a not in ("-e", "--editable")]
            args = [re.sub(r"\[[^\]]*\]$", "", a) for a in args]
            steps.append(("pip", "install", *args))
    return steps


def ci_commands() -> list[list[str]]:
    commands: list[list[str]] = []
    for line in CI_RUN.read_text().splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            commands.extend(shell_commands(stripped.replace('"$VENV', '"/venv')))
    return commands


def pyproject() -> dict[str, Any]:
    return tomllib.loads(PYPROJECT.read_text())


def builder_and_final() -> tuple[Stage, Stage]:
    stages = read_dockerfile()
    assert len(stages) >= 2, "the Dockerfile must be multi-stage"
    builders = [s for s in stages if s.all("RUN") and any("pip" in r for r in s.all("RUN"))]
    return builders[0], stages[-1]


# -- install steps ------------------------------------------------------------------------


def test_the_image_installs_with_ci_commands_minus_the_dev_extra() -> None:
    builder, _ = builder_and_final()
    docker_steps = install_steps([cmd for run in builder.all("RUN") for cmd in shell_commands(run)])
    ci_steps = install_steps(ci_commands())

    assert ci_steps, "found no install steps in .ci/run"
    assert docker_steps == ci_steps
    assert "-e" not in " ".join(builder.all("RUN")), "the image needs a real install, not an editable one"
    assert ".[dev]" not in " ".join(builder.all("RUN")), "the image must not carry the dev tools"


def test_ci_installs_the_dev_extra_the_image_leaves_out() -> None:
    assert "'.[dev]'" in CI_RUN.read_text()
    assert "dev" in pyproject()["project"]["optional-dependencies"]


def test_the_builder_copies_everything_pip_install_dot_needs() -> None:
    builder, _ = builder_and_final()
    copied: set[str] = set()
    for args in builder.all("COPY"):
        sources = args.split()[:-1]
        copied.update(s.rstrip("/") for s in sources)
    project = pyproject()
    needed = {"pyproject.toml", project["project"]["readme"]}
    needed |= {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert needed <= copied, f"not copied: {sorted(needed - copied)}"


def test_every_stage_uses_a_python_that_pyproject_accepts() -> None:
    requires = SpecifierSet(pyproject()["project"]["requires-python"])
    for stage in read_dockerfile():
        match = re.fullmatch(r"python:(\d+\.\d+)(?:\.\d+)?-slim(?:-\w+)?", stage.image)
        assert match, f"{stage.image} is not a slim Python image"
        assert match.group(1) in requires


# -- the final image ----------------------------------------------------------------------


def test_the_image_runs_the_bot_as_a_non_root_user() -> None:
    _, final = builder_and_final()
    user = final.last("USER").split(":")[0]
    assert user not in ("root", "0")
    assert exec_form(final.last("CMD")) == ["vro-bot", "run"]
    assert pyproject()["project"]["scripts"]["vro-bot"] == "bot.cli:main"


def test_the_image_exposes_the_port_the_settings_default_to() -> None:
    _, final = builder_and_final()
    assert final.last("EXPOSE") == str(DEFAULT_HTTP_PORT)


def test_the_final_image_carries_no_compiler_or_source_tree() -> None:
    _, final = builder_and_final()
    assert final.image == builder_and_final()[0].image
    assert all("--from=" in args for args in final.all("COPY")), "the final stage copies only the venv"
    assert not any("pip install" in run for run in final.all("RUN"))


def healthcheck_argv() -> list[str]:
    _, final = builder_and_final()
    args = final.last("HEALTHCHECK")
    _, _, command = args.partition("CMD ")
    return exec_form(command)


def test_the_healthcheck_probes_healthz_with_python_on_the_configured_port() -> None:
    argv = healthcheck_argv()
    assert argv[:2] == ["python", "-c"]
    assert HEALTHZ_PATH in argv[2]
    assert "VRO_BOT_HTTP_PORT" in argv[2]
    assert "VRO_BOT_ADMIN_PORT" in argv[2]  # /healthz moves there when the admin listener is apart
    assert f"'{DEFAULT_HTTP_PORT}'" in argv[2]


# -- data that survives the container ------------------------------------------------------

DATA_DIR = "/var/lib/vro-bot/data"


def image_env() -> dict[str, str]:
    _, final = builder_and_final()
    env: dict[str, str] = {}
    for args in final.all("ENV"):
        for pair in shlex.split(args):
            name, _, value = pair.partition("=")
            env[name] = value
    return env


def test_the_sqlite_database_lives_in_a_volume_owned_by_the_bot() -> None:
    _, final = builder_and_final()
    assert exec_form(final.last("VOLUME")) == [DATA_DIR]
    url = load_settings({"DATABASE_URL": image_env()["DATABASE_URL"]}).database_url
    assert url == f"sqlite:///{DATA_DIR}/vro-bot.db"
    # Created with the bot's uid before VOLUME, so a new named volume is writable by it.
    uid = final.last("USER").split(":")[0]
    assert any(f"install -d -o {uid} -g {uid}" in run and DATA_DIR in run for run in final.all("RUN"))


def documented_docker_runs() -> list[list[str]]:
    """The `docker run` commands of the Dockerfile's header comment (continuations joined)."""
    text = ""
    for raw in DOCKERFILE.read_text().splitlines():
        if not raw.startswith("#"):
            break
        line = raw.lstrip("#").strip()
        text += line[:-1] + " " if line.endswith("\\") else line + "\n"
    return [shlex.split(line) for line in text.splitlines() if line.startswith("docker run")]


def test_the_documented_recipe_migrates_checks_and_runs_on_the_same_volume() -> None:
    runs = documented_docker_runs()
    commands = [argv[argv.index("vro-chatops") + 1 :] for argv in runs]
    assert commands == [["vro-bot", "db", "upgrade"], ["vro-bot", "check"], []]  # [] = CMD: vro-bot run
    mounts = {argv[argv.index("-v") + 1] for argv in runs}
    assert len(mounts) == 1
    _, _, target = mounts.pop().partition(":")
    assert target == DATA_DIR
    assert "--rm" not in runs[-1]
    assert "-d" in runs[-1]
    assert f"{DEFAULT_HTTP_PORT}:{DEFAULT_HTTP_PORT}" in runs[-1]


# -- pinned dependencies -------------------------------------------------------------------


def pins() -> dict[str, Version]:
    found: dict[str, Version] = {}
    for raw in CONSTRAINTS.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt pins exactly: {line!r}"
            found[canonicalize_name(name)] = Version(version)
    return found


def test_every_runtime_dependency_is_pinned_within_its_range() -> None:
    pinned = pins()
    for spec in pyproject()["project"]["dependencies"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"constraints.txt pins {requirement.name}=={pinned[name]}, outside {requirement.specifier}"
        )


def test_the_image_and_ci_both_install_with_the_constraints() -> None:
    builder, _ = builder_and_final()
    assert any("-c constraints.txt ." in run for run in builder.all("RUN"))
    assert "-c constraints.txt -e '.[dev]'" in CI_RUN.read_text()
    assert not excluded("constraints.txt")


@pytest.mark.slow
def test_the_constraints_resolve_the_whole_install_and_nothing_is_left_unpinned(tmp_path: Path) -> None:
    """pip resolves `pip install -c constraints.txt .` (without installing): every package it
    would install is pinned, at exactly the pinned version."""
    report = tmp_path / "report.json"
    subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--dry-run",
            "--ignore-installed",
            "--report",
            str(report),
            "-c",
            str(CONSTRAINTS),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    installs = json.loads(report.read_text())["install"]
    chosen = {
        canonicalize_name(item["metadata"]["name"]): Version(item["metadata"]["version"]) for item in installs
    }
    chosen.pop(canonicalize_name("vro-chatops"))
    assert chosen == pins()


async def run_healthcheck(port: int) -> int:
    code = healthcheck_argv()[2]
    env = {**os.environ, "VRO_BOT_HTTP_PORT": str(port)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return await proc.wait()


async def test_the_healthcheck_passes_against_a_live_bot_and_fails_when_nothing_listens() -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    app = create_health_app(metrics=create_metrics(process_metrics=False), checks={})
    server = health_server(app, host="127.0.0.1", port=port)
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        # The socket already listens, so the probe's connection waits in the backlog until
        # uvicorn accepts it: no polling for start-up.
        assert await run_healthcheck(port) == 0
    finally:
        server.should_exit = True
        await serving
        listener.close()

    closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    closed.bind(("127.0.0.1", 0))
    free_port = closed.getsockname()[1]
    closed.close()
    assert await run_healthcheck(free_port) != 0


# -- .dockerignore ------------------------------------------------------------------------


def ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules: list[tuple[bool, re.Pattern[str]]] = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex += "(?:.*/)?"
                i += 3
            elif pattern.startswith("**", i):
                regex += ".*"
                i += 2
            elif pattern[i] == "*":
                regex += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                regex += "[^/]"
                i += 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                regex += pattern[i : end + 1]
                i = end + 1
            else:
                regex += re.escape(pattern[i])
                i += 1
        rules.append((negate, re.compile(regex)))
    return rules


def excluded(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    verdict = False
    for negate, regex in ignore_rules():
        if any(regex.fullmatch(c) for c in candidates):
            verdict = not negate
    return verdict


def test_the_build_context_holds_every_file_the_install_needs() -> None:
    needed = ["pyproject.toml", "README.md"]
    for top in ("bot", "migrations"):
        needed += [
            p.relative_to(ROOT).as_posix()
            for p in (ROOT / top).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        ]
    assert [p for p in needed if excluded(p)] == []


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".git/config",
        ".venv/bin/python",
        ".ci-venv/bin/pip",
        "vro-bot.db",
        "tests/conftest.py",
        "bot/__pycache__/cli.cpython-311.pyc",
        ".mypy_cache/3.11/x.json",
    ],
)
def test_secrets_databases_and_caches_stay_out_of_the_build_context(path: str) -> None:
    assert excluded(path)


# -- compose.yml ---------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def interpolate(value: str) -> str:
    """Compose's ${VAR:?message} with a stand-in value."""
    return re.sub(r"\$\{(\w+)(?::?[?-][^}]*)?\}", lambda m: f"<{m.group(1)}>", value)


def test_compose_migrates_once_before_the_bot_starts() -> None:
    services = compose()["services"]
    migrate, bot = services["migrate"], services["bot"]

    assert migrate["command"] == ["vro-bot", "db", "upgrade"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert bot["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert bot["depends_on"]["db"]["condition"] == "service_healthy"
    assert bot["command"] == exec_form(builder_and_final()[1].last("CMD"))
    assert "VRO_BOT_AUTO_MIGRATE" not in bot.get("environment", {}), "compose migrates in its own step"


def test_compose_bot_and_migration_share_the_image_and_a_postgres_url_the_settings_accept() -> None:
    services = compose()["services"]
    migrate, bot, db = services["migrate"], services["bot"], services["db"]

    assert bot["build"] == migrate["build"] == "."
    assert bot["image"] == migrate["image"]
    assert bot["env_file"] == migrate["env_file"] == ".env"
    url = bot["environment"]["DATABASE_URL"]
    assert url == migrate["environment"]["DATABASE_URL"]
    settings = load_settings({"DATABASE_URL": interpolate(url)})
    assert settings.database_url.startswith("postgresql://")
    assert "@db:5432/" in settings.database_url
    assert db["environment"]["POSTGRES_DB"] == url.rsplit("/", 1)[1]
    assert db["environment"]["POSTGRES_USER"] == url.split("://", 1)[1].split(":", 1)[0]


def test_compose_postgres_has_a_healthcheck_and_a_volume() -> None:
    spec = compose()
    db = spec["services"]["db"]
    assert db["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    volume = db["volumes"][0].split(":")[0]
    assert volume in spec["volumes"]


def test_compose_publishes_the_bot_port() -> None:
    bot = compose()["services"]["bot"]
    assert f"{DEFAULT_HTTP_PORT}:{DEFAULT_HTTP_PORT}" in bot["ports"]


# -- the install the image performs --------------------------------------------------------


@pytest.mark.slow
def test_a_non_editable_install_from_the_build_context_can_migrate_a_database(tmp_path: Path) -> None:
    """What `pip install .` puts in the image (not the editable install CI uses) must carry the
    migrations, or `vro-bot db upgrade` fails only in production."""
    context = tmp_path / "context"
    builder, _ = builder_and_final()
    for args in builder.all("COPY"):
        *sources, _dest = args.split()
        for source in sources:
            src = ROOT / source
            for path in [src] if src.is_file() else src.rglob("*"):
                rel = path.relative_to(ROOT).as_posix()
                if path.is_file() and not excluded(rel):
                    target = context / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(path.read_bytes())
    wheels = tmp_path / "wheels"
    subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(wheels),
            str(context),
        ],
        check=True,
        capture_output=True,
    )
    site = tmp_path / "site"
    [wheel] = wheels.glob("*.whl")
    subprocess.run(  # noqa: S603
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    shipped = sorted(p.name for p in (site / "migrations" / "versions").glob("*.py"))
    assert shipped == sorted(p.name for p in (ROOT / "migrations" / "versions").glob("*.py"))

    database = f"sqlite:///{tmp_path / 'bot.db'}"
    script = (
        "import bot, migrations, bot.migrate as m\n"
        f"assert bot.__file__.startswith({str(site)!r}), bot.__file__\n"
        f"assert migrations.__file__.startswith({str(site)!r}), migrations.__file__\n"
        f"m.upgrade({database!r})\n"
        f"m.check_at_head({database!r})\n"
        "print(m.head_revision())\n"
    )
    # -S skips .pth files, so the work tree's editable install cannot stand in for the wheel;
    # the dependencies come from this interpreter's site-packages, listed after the wheel.
    dependencies = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-S", "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *dependencies])},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
