"""The pure core loads no I/O library and no settings, at run time as well as on paper.

``lint-imports`` (the contracts in pyproject.toml) checks the static import graph. This is its
runtime twin: each module of the ``pure-core`` contract is imported in a fresh interpreter, where
package ``__init__`` files run too (an eager re-export there would load httpx behind the graph's
back), and the forbidden packages must not be in ``sys.modules`` afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _contract(contract_id: str) -> dict[str, Any]:
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]
    contract: dict[str, Any] = next(c for c in config["contracts"] if c["id"] == contract_id)
    return contract


PURE = _contract("pure-core")


@pytest.mark.parametrize("module", PURE["source_modules"])
def test_a_pure_module_loads_no_forbidden_package(module: str) -> None:
    probe = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        f"forbidden = {PURE['forbidden_modules']!r}\n"
        "print(json.dumps(sorted({f for f in forbidden for m in sys.modules if m == f or m.startswith(f + '.')})))\n"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter running a fixed probe
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == [], f"importing {module} loads {done.stdout.strip()}"
