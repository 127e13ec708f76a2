"""The README's testing example runs as written: its tests pass on the real harness."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = "<!-- the block below runs in tests/testing/test_readme.py -->"


def _example() -> dict[str, Any]:
    text = README.read_text()
    after = text.split(MARKER, 1)[1]
    block = re.search(r"```python\n(.*?)```", after, re.S)
    assert block is not None, "the README lost its testing example"
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(block.group(1), str(README), "exec"), namespace)
    return namespace


EXAMPLE = _example()
TESTS = sorted(
    name for name, fn in EXAMPLE.items() if name.startswith("test_") and inspect.isfunction(fn)
)


def test_the_example_has_its_five_tests() -> None:
    """The README shows the timeout, approval, rejection, crash and nondeterminism tests."""
    assert len(TESTS) == 5


@pytest.mark.parametrize("name", TESTS)
async def test_readme_example(name: str) -> None:
    """Each test function of the README's example passes."""
    await EXAMPLE[name]()
