"""README.md against the code: the configuration table and the `.env` example of "The first hour".

A deployer works from the README alone: a variable the code reads but the table leaves out is a
knob nobody finds; one the table names but the code ignores is a setting that silently does
nothing; an `.env` line that only works outside Docker breaks the documented `docker run` lines.
"""

from __future__ import annotations

import re
from pathlib import Path

from bot.config import Settings, load_settings

README = Path(__file__).resolve().parents[2] / "README.md"


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def configuration_table_variables() -> set[str]:
    names: set[str] = set()
    for line in section("Configuration").splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell))
    return names


def test_the_configuration_table_names_exactly_the_variables_settings_reads() -> None:
    read = {name.upper() for name in Settings.model_fields}
    assert configuration_table_variables() == read


def dot_env_example() -> list[str]:
    block = re.search(r"```sh\n(.*?)```", section("The first hour"), re.DOTALL)
    assert block is not None, "The first hour has no .env example"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_dot_env_example_works_with_docker_run_env_file() -> None:
    """`docker run --env-file` keeps everything after `=`: a trailing comment became the value
    (an app token or a VRO user name with "# ..." on its end), so comments go on their own lines."""
    lines = dot_env_example()
    assignments = [line for line in lines if not line.startswith("#")]
    assert assignments
    for line in assignments:
        name, _, value = line.partition("=")
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name), line
        for kept_by_docker in ("#", " ", '"'):
            assert kept_by_docker not in value, line


def test_the_dot_env_example_names_only_variables_the_settings_read_and_parses() -> None:
    values = dict(line.partition("=")[::2] for line in dot_env_example() if not line.startswith("#"))
    assert set(values) <= {name.upper() for name in Settings.model_fields}
    load_settings(values)  # the placeholders have the right shape (xoxb-, xapp-, a URL)
