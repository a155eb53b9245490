"""Provenance of a run: sambench build, environment and library versions, checksums."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import sambench

RECORDED_LIBRARIES = (
    "numpy",
    "scipy",
    "scikit-image",
    "opencv-python-headless",
    "pycocotools",
    "pillow",
    "torch",
    "torchvision",
    "segment-anything",
    "sam2",
    "transformers",
    "faster-coco-eval",
)
"""Distributions whose versions every manifest records (``null`` when not installed)."""


def utc_now() -> str:
    """The current time, ISO 8601 in UTC."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def sambench_build() -> dict[str, Any]:
    """sambench's version and the git commit it runs from.

    A wheel carries the commit it was built from (``_build_info.json``); a source
    checkout asks git.
    """
    package_dir = Path(sambench.__file__).resolve().parent
    info: dict[str, Any] = {"version": sambench.__version__, "git_sha": None, "git_dirty": None}
    build_info = package_dir / "_build_info.json"
    if build_info.is_file():
        info.update(json.loads(build_info.read_text()))
        return info
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=package_dir,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", str(package_dir)],
            cwd=package_dir,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return info
    info.update(git_sha=sha, git_dirty=bool(dirty))
    return info


def environment() -> dict[str, Any]:
    """Python, platform, CPU count and library versions."""
    libraries: dict[str, str | None] = {}
    for name in RECORDED_LIBRARIES:
        try:
            libraries[name] = version(name)
        except PackageNotFoundError:
            libraries[name] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "libraries": libraries,
    }


def sha256_file(path: Path) -> str:
    """SHA-256 hex digest of a file (checkpoints, annotation files), read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
