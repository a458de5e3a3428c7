"""The response samples of ``vro-rest-api-seed.txt`` (a Redoc page rendered as text), as JSON.

Redoc prints every line of a sample with a ``- `` bullet; removing the bullets after ``{``,
``[`` and ``,`` gives back the JSON. The six samples come in the order of the page.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

SEED_FILE = Path(__file__).parent / "data" / "vro-rest-api-seed.txt"
SAMPLE_NAMES = ("plan", "groups", "group_vms", "group_steps", "vm_steps", "step")


def _balanced(text: str, start: int) -> str:
    depth = 0
    in_string = False
    escaped = False
    for position in range(start, len(text)):
        char = text[position]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return text[start : position + 1]
    raise ValueError("unbalanced sample in the seed file")


def seed_samples() -> dict[str, Any]:
    """``{name: decoded sample}`` for the six RuntimeDetails samples."""
    text = SEED_FILE.read_text(encoding="utf-8")
    samples: list[Any] = []
    for match in re.finditer(r"^- 200\n", text, flags=re.MULTILINE):
        raw = _balanced(text, text.index("{", match.end()))
        cleaned = re.sub(r"([{\[,])\s*-\s", r"\1 ", raw.replace("\n", " "))
        samples.append(json.loads(cleaned))
    if len(samples) != len(SAMPLE_NAMES):
        raise ValueError(f"expected {len(SAMPLE_NAMES)} samples in the seed, found {len(samples)}")
    return dict(zip(SAMPLE_NAMES, samples, strict=True))
