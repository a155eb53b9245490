"""Hatch build hook: ship the data folders in the wheel and record the git commit it was built from.

Editable installs get neither: they read the data folders and ask git in the source checkout.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

DATA_FOLDERS = ("tasks", "datasets", "results")
"""Top-level data folders shipped as ``sambench/_data/<name>``."""


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Adds the data folders and ``sambench/_build_info.json`` (git SHA, dirty flag)."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":  # a source checkout asks git at run time
            return
        root = Path(self.root)
        info = {
            "git_sha": _git(root, "rev-parse", "HEAD"),
            "git_dirty": bool(_git(root, "status", "--porcelain")),
        }
        target = Path(tempfile.mkdtemp()) / "_build_info.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(info))
        build_data["force_include"][str(target)] = "sambench/_build_info.json"
        for folder in DATA_FOLDERS:
            build_data["force_include"][str(root / folder)] = f"sambench/_data/{folder}"


def _git(root: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return result.stdout.strip()
