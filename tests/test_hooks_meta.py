"""Every hook is documented with its exact signature and has a test of its own.

A hook ``p2pfl_<name>`` needs a heading in docs/plugins/hooks.md whose text
is its signature in backticks, such as
``### `p2pfl_stage_started(node: str, stage: str, round: int) -> None` ``,
and a test function named ``test_hook_<name>`` somewhere in tests/.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from p2pfl_core import hookspecs

ROOT = Path(__file__).resolve().parents[1]
HOOKS_DOC = ROOT / "docs" / "plugins" / "hooks.md"
HEADING = re.compile(r"^#{2,4} `(p2pfl_\w+\(.*\)(?: -> .+)?)`\s*$")


def signature_text(name: str) -> str:
    """Return ``name(arg: type, ...) -> type`` as written in hookspecs.py."""
    function = getattr(hookspecs, name)
    parameters = ", ".join(
        f"{p.name}: {p.annotation}"
        for p in inspect.signature(function).parameters.values()
    )
    return f"{name}({parameters}) -> {inspect.signature(function).return_annotation}"


def documented_signatures() -> list[str]:
    """Return the hook signatures found in the headings of hooks.md."""
    lines = HOOKS_DOC.read_text(encoding="utf-8").splitlines()
    return [match.group(1) for line in lines if (match := HEADING.match(line))]


def collect_test_names() -> set[str]:
    """Return the names of every test function in tests/."""
    names: set[str] = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef):
                names.add(node.name)
    return names


@pytest.mark.parametrize("hook", sorted(hookspecs.HOOK_NAMES))
def test_hook_has_docs_heading(hook: str) -> None:
    """The hook has a heading in hooks.md with its exact signature."""
    assert signature_text(hook) in documented_signatures()


@pytest.mark.parametrize("hook", sorted(hookspecs.HOOK_NAMES))
def test_hook_has_test(hook: str) -> None:
    """A function named test_hook_<name> exists in tests/."""
    assert f"test_hook_{hook.removeprefix('p2pfl_')}" in collect_test_names()


@pytest.mark.parametrize("hook", sorted(hookspecs.HOOK_NAMES))
def test_hook_docstring_has_example(hook: str) -> None:
    """The hook's docstring shows an example."""
    assert "Example:" in (getattr(hookspecs, hook).__doc__ or "")


def test_docs_headings_are_real_hooks() -> None:
    """Every hook heading in hooks.md matches a hook that exists, so no stale docs."""
    current = {signature_text(hook) for hook in hookspecs.HOOK_NAMES}
    stale = [heading for heading in documented_signatures() if heading not in current]
    assert stale == []


def test_hook_names_found() -> None:
    """hookspecs.HOOK_NAMES finds all 16 hooks, so the checks above cover them."""
    assert len(hookspecs.HOOK_NAMES) == 16
