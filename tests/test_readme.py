"""Every command the README shows exists as written: `broker` subcommands and their flags, and the
scripts (benchmarks/, scripts/) with theirs."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from broker.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def shown_commands(text: str) -> list[str]:
    """Command lines of the README: lines of its bash blocks, and inline `broker ...` / `python ...` spans."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip().rstrip("&").strip()
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith(("broker ", "python ")):
                    commands.append(part)
    for span in re.findall(r"`((?:broker|python) [^`]+)`", text):
        commands.append(span.strip())
    return sorted(set(commands))


def _words(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def _check_broker(words: list[str]) -> list[str]:
    """Problems with one `broker ...` command line: unknown subcommands or flags."""
    node = typer.main.get_command(app)
    rest = words[1:]
    while hasattr(node, "commands") and rest and not rest[0].startswith("-"):  # a group (typer's own click)
        names = rest[0].split("|")
        if not all(name in node.commands for name in names):
            if rest[0].isupper() or rest[0].startswith(("[", "<", ".")):
                break
            return [f"no command {rest[0]!r} under {node.name!r}"]
        node = node.commands[names[0]]
        rest = rest[1:]
        if len(names) > 1:  # `bonus|block|...`: each exists; their flags are not shown
            return []
    flags = {flag for param in node.params for flag in (*param.opts, *param.secondary_opts)}
    flags |= {"--help"}
    problems = []
    for word in rest:
        for flag in re.findall(r"(?:^|\[|\|)(--?[a-z][a-z0-9-]*)", word):
            if flag not in flags:
                problems.append(f"{' '.join(words[:2])}: no flag {flag}")
    return problems


def _script_help(path: str) -> str:
    result = subprocess.run([sys.executable, path, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    return result.stdout + result.stderr


def test_the_readme_shows_commands() -> None:
    commands = shown_commands(README)
    assert any(c.startswith("broker demo") for c in commands)
    assert len(commands) > 10


@pytest.mark.parametrize("command", [c for c in shown_commands(README) if c.startswith("broker ")])
def test_broker_command_exists(command: str) -> None:
    assert _check_broker(_words(command)) == [], command


@pytest.mark.parametrize("command", [c for c in shown_commands(README) if c.startswith("python ")])
def test_script_and_its_flags_exist(command: str) -> None:
    words = _words(command)
    script = words[1]
    assert (ROOT / script).is_file(), f"{script} does not exist"
    if script.startswith("-"):
        return
    help_text = _script_help(script)
    for flag in [w.split("=")[0] for w in words[2:] if w.startswith("--")]:
        assert flag in help_text, f"{script} has no flag {flag}"
