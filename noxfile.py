"""Development sessions: ``nox -s tests``, ``lint``, ``typecheck``, ``slow``, ``bench``."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.default_venv_backend = "venv"


@nox.session
def tests(session: nox.Session) -> None:
    """The default test run (unit, integration and doctests; no slow or benchmark tests)."""
    session.install(".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def slow(session: nox.Session) -> None:
    """Tests marked ``slow`` (long end-to-end runs)."""
    session.install(".[test]")
    session.run("pytest", "-m", "slow", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Speed benchmarks (pytest-benchmark), compared side by side with their references."""
    session.install(".[test]")
    session.run("pytest", "-m", "bench", "--benchmark-enable", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the package, tests and tooling."""
    session.install("ruff")
    session.run(
        "ruff",
        "check",
        "sambench",
        "tests",
        "examples",
        "benchmarks",
        "noxfile.py",
        "build_hooks.py",
    )


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package."""
    session.install(".[lint]")
    session.run("mypy")
