"""Phase 2's versioned prompt files (`prompt_templates/<role>.<version>.md`) and their rendering.

A file has `=== system ===` and optionally `=== user ===` sections with `$name` slots (string.Template).
Machine-readable parts sit inside tags (`<instruction>`, `<conversation>`, `<candidate>`) so that real
models and the simulated backend read the same text.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from string import Template
from typing import Any

TEMPLATE_DIR = Path(__file__).resolve().parent / "prompt_templates"
_SECTION = re.compile(r"^=== (\w+) ===\s*$", re.MULTILINE)


@lru_cache(maxsize=32)
def load_template(role: str, version: str) -> dict[str, Template]:
    path = TEMPLATE_DIR / f"{role}.{version}.md"
    if not path.is_file():
        raise FileNotFoundError(f"no prompt file {path.name} for role '{role}' version '{version}'")
    parts = _SECTION.split(path.read_text())
    sections = {name: Template(body.strip("\n")) for name, body in zip(parts[1::2], parts[2::2], strict=True)}
    if "system" not in sections:
        raise ValueError(f"prompt file {path.name} needs a '=== system ===' section")
    return sections


def render(role: str, version: str, section: str, **slots: str) -> str:
    return load_template(role, version)[section].substitute(**slots)


def prompt_version(role: str, version: str) -> str:
    return f"{role}.{version}"


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def tagged_text(text: str | None, tag: str) -> str | None:
    """The text between `<tag>` and `</tag>`, or None."""
    if not text:
        return None
    match = re.search(rf"<{tag}>\n?(.*?)\n?</{tag}>", text, re.DOTALL)
    return match.group(1) if match else None
