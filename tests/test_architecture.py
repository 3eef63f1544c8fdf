"""The rules that keep the engine's structure (see the README's "How it fits together").

- only broker/store/ imports sqlmodel, sqlalchemy or alembic;
- statuses change only through broker.store.transitions.advance (rows *inserted* with a
  starting status are fine; the marketplace keeps its own state machine);
- broker/ has no import cycle, and no function-local import of a broker module;
- the import-linter contracts in pyproject.toml hold (`lint-imports`);
- ruff finds nothing (`ruff check .`, `ruff format --check .`);
- comments and docstrings say what code means, not which issue asked for it.
"""

from __future__ import annotations

import ast
import io
import os
import re
import shutil
import subprocess
import sys
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BROKER = ROOT / "broker"
STORE = BROKER / "store"
MARKETPLACE = BROKER / "marketplace"
DB_PACKAGES = {"sqlalchemy", "sqlmodel", "alembic"}
STATUS_COLUMNS = {"status", "review_status"}
ISSUE_MENTION = re.compile(r"\bissues? ?#?\d+", re.IGNORECASE)
RAW_STATUS_UPDATE = re.compile(r"\bupdate\b.*\bset\b.*\b(review_)?status\b", re.IGNORECASE | re.DOTALL)


def python_files(*packages: Path) -> Iterator[Path]:
    for package in packages:
        yield from sorted(package.rglob("*.py"))


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{node.lineno}"


def inside(path: Path, package: Path) -> bool:
    return package in path.parents


def run(*command: str) -> subprocess.CompletedProcess:
    """A tool run on this checkout (PYTHONPATH first, so it analyses this broker, not an installed one)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


# ------------------------------------------------------------------------------------ the store


def test_only_the_store_imports_the_database_libraries() -> None:
    found = []
    for path in python_files(BROKER):
        if inside(path, STORE):
            continue
        for node in ast.walk(parse(path)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found += [f"{where(path, node)} imports {name}" for name in names if name.split(".")[0] in DB_PACKAGES]
    assert not found, "only broker/store/ may import sqlmodel/sqlalchemy/alembic:\n" + "\n".join(found)


# ------------------------------------------------------------------------------------ statuses


def _call_name(node: ast.AST) -> str:
    func = node.func if isinstance(node, ast.Call) else node
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _chain(call: ast.Call) -> list[str]:
    """Names of the calls in a method chain: insert(Hit).values(...) -> ["values", "insert"]."""
    names, node = [], call
    while True:
        if isinstance(node, ast.Call):
            names.append(_call_name(node))
            node = node.func
        elif isinstance(node, ast.Attribute):
            node = node.value
        else:
            return names


def _status_keys(node: ast.AST) -> list[str]:
    """Status keys of a dict literal, or of the dicts in a list/tuple literal."""
    if isinstance(node, ast.Dict):
        return [k.value for k in node.keys if isinstance(k, ast.Constant) and k.value in STATUS_COLUMNS]
    if isinstance(node, (ast.List, ast.Tuple, ast.ListComp)):
        elements = [node.elt] if isinstance(node, ast.ListComp) else node.elts
        return [key for element in elements for key in _status_keys(element)]
    if isinstance(node, ast.Call) and _call_name(node) == "dict":
        return [k.arg for k in node.keywords if k.arg in STATUS_COLUMNS]
    return []


def _bulk_update(node: ast.AST) -> bool:
    """session.execute(update(Table), rows): an executemany UPDATE whose rows are built elsewhere."""
    return (
        isinstance(node, ast.Call)
        and _call_name(node) == "execute"
        and len(node.args) >= 2
        and isinstance(node.args[0], ast.Call)
        and "update" in _chain(node.args[0])
    )


def _bulk_rows(function: ast.AST) -> Iterator[tuple[ast.AST, str]]:
    """In a function that runs a bulk UPDATE with rows built elsewhere: the status keys of its row dicts."""
    if not any(_bulk_update(node) and not _status_keys(node.args[1]) for node in ast.walk(function)):
        return
    for node in ast.walk(function):
        if isinstance(node, ast.Dict) and _status_keys(node):
            yield node, f"bulk UPDATE row sets {', '.join(sorted(set(_status_keys(node))))}"
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if (
                    isinstance(target, ast.Subscript)
                    and isinstance(target.slice, ast.Constant)
                    and target.slice.value in STATUS_COLUMNS
                ):
                    yield node, f"bulk UPDATE row sets [{target.slice.value!r}]"


def status_writes(tree: ast.Module) -> Iterator[tuple[ast.AST, str]]:
    """Direct status changes: attribute assignments, UPDATE ... values(status=...), bulk UPDATE rows."""
    seen: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for found, what in _bulk_rows(node):
                if found.lineno not in seen:
                    seen.add(found.lineno)
                    yield found, what
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for element in target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]:
                    if isinstance(element, ast.Attribute) and element.attr in STATUS_COLUMNS:
                        yield node, f"assigns .{element.attr}"
        elif isinstance(node, ast.Call):
            name, chain = _call_name(node), _chain(node)
            if "insert" in chain:
                continue  # a new row may start in any initial status
            if (
                name == "setattr"
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value in STATUS_COLUMNS
            ):
                yield node, f"setattr(..., {node.args[1].value!r})"
            elif name in {"values", "update", "sqlmodel_update", "bulk_update_mappings"} or (
                name == "execute"
                and node.args
                and isinstance(node.args[0], ast.Call)
                and "update" in _chain(node.args[0])
            ):
                keys = [k.arg for k in node.keywords if k.arg in STATUS_COLUMNS]
                keys += [key for arg in node.args for key in _status_keys(arg)]
                if keys:
                    yield node, f"{name}(...) sets {', '.join(sorted(set(keys)))}"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and RAW_STATUS_UPDATE.search(node.value):
            if re.match(r"\s*update\b", node.value, re.IGNORECASE):
                yield node, "raw SQL UPDATE of a status"


def test_status_changes_go_through_advance() -> None:
    found = []
    for path in python_files(BROKER):
        if inside(path, STORE) or inside(path, MARKETPLACE):
            continue
        found += [
            f"{where(path, node)}: {what}"
            for node, what in sorted(status_writes(parse(path)), key=lambda item: item[0].lineno)
        ]
    assert not found, "statuses change only through broker.store.transitions.advance:\n" + "\n".join(found)


def test_the_status_check_sees_updates_and_lets_inserts_pass() -> None:
    """The checker itself: what it must flag, and the inserts it must not."""
    flagged = """
hit.status = HitStatus.OPEN
a.review_status, b = "approved", 1
setattr(job, "status", "Completed")
session.execute(update(Hit).where(Hit.id == 1).values(status="open"))
Job.__table__.update().values(status=JobStatus.COMPLETED)
session.execute(update(Assignment), [{"id": 1, "review_status": "approved"}])
session.execute(update(DataObject), [dict(id=i, status="pending") for i in ids])
session.execute(text("UPDATE hit SET status = 'done' WHERE id = 1"))
"""
    bulk = """
def consolidate(session, done, bad):
    newly = [row | {"status": "consolidated"} for row in done]
    objects = {o["id"]: o for o in bad}
    for o in objects.values():
        o["status"] = "failed"
    for rows in (newly, list(objects.values())):
        session.execute(update(DataObject), rows)
"""
    allowed = """
session.add(Hit(job_id=1, status=HitStatus.CREATING))
session.execute(insert(DataObject).values(status="pending"))
session.execute(insert(DataObject), [{"job_id": 1, "status": "held"}])
advance(session, [1], HitStatus.OPEN, values={"hit_id": "H"})
status = "open"
report.counts.update(done=1)
print(hit.status)
"""
    assert len(list(status_writes(ast.parse(flagged)))) == len(flagged.strip().splitlines())
    assert len(list(status_writes(ast.parse(bulk)))) == 2
    assert list(status_writes(ast.parse(allowed))) == []


# ------------------------------------------------------------------------------------ imports


def test_broker_has_no_import_cycle() -> None:
    result = run(sys.executable, "scripts/import_cycles.py", "broker")
    assert result.returncode == 0, result.stdout + result.stderr


def test_function_local_imports_say_why() -> None:
    """Imports sit at the top of a module; one inside a function is kept only for a heavy optional
    dependency, with a comment right above its group saying so."""
    found = []
    for path in python_files(BROKER):
        lines = path.read_text(encoding="utf-8").splitlines()
        for function in ast.walk(parse(path)):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    continue
                above = node.lineno - 2  # the line above the import (0-based)
                while above >= 0 and (
                    lines[above].strip().startswith(("import ", "from ")) or not lines[above].strip()
                ):
                    above -= 1  # up to the first import of its group
                comment = []
                while above >= 0 and lines[above].strip().startswith("#"):
                    comment.append(lines[above].lower())
                    above -= 1
                if not any("heavy" in line for line in comment):
                    found.append(f"{where(path, node)}: {lines[node.lineno - 1].strip()}")
    found = sorted(set(found))
    assert not found, f"{len(found)} function-local imports without a comment on the heavy dependency:\n" + "\n".join(
        found
    )


def test_import_contracts_hold() -> None:
    """`lint-imports`: the layers, independent stages, a standalone marketplace and scoring (pyproject.toml)."""
    command = shutil.which("lint-imports")
    if command is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    result = run(command, "--no-cache")
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr


# ------------------------------------------------------------------------------------ style


def _ruff() -> str:
    command = shutil.which("ruff")
    if command is None:
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    return command


def test_ruff_check() -> None:
    result = run(_ruff(), "check", "--no-cache", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr


def test_ruff_format() -> None:
    result = run(_ruff(), "format", "--no-cache", "--check", ".")
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr


def comments_and_docstrings(path: Path) -> Iterator[tuple[int, str]]:
    source = path.read_text(encoding="utf-8")
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            docstring = ast.get_docstring(node, clean=False)
            if docstring:
                yield (node.body[0].lineno, docstring)


def test_comments_say_what_code_means_not_which_issue_asked() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {ISSUE_MENTION.search(text).group(0)!r}"
        for path in python_files(BROKER, ROOT / "scoring")
        for line, text in comments_and_docstrings(path)
        if ISSUE_MENTION.search(text)
    ]
    assert not found, "comments and docstrings naming issues:\n" + "\n".join(found)
