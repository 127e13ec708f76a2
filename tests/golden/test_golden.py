"""Golden journals: journals recorded from real runs must replay to the same commands.

A refactor that changes what one of the handlers of `apps.py` journals (a name, an argument,
the order of two commands, a completion id) fails here with the 570 diff. Record again with
`python -m tests.golden.record` only when the change is meant.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.golden.apps import app
from tests.golden.codec import from_json, to_json
from tests.vm.harness import MemoryEngine

from wakeful.engine.events import AttemptCompleted
from wakeful.engine.model import Target
from wakeful.journal.entries import OutputCommand
from wakeful.journal.ids import InvocationId

GOLDEN = sorted(Path(__file__).parent.glob("*.json"))


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def test_there_are_golden_journals() -> None:
    """The recordings are committed (a glob that finds nothing would pass vacuously)."""
    assert {p.stem for p in GOLDEN} >= {"approval", "cart_first", "cart_empty", "workflow"}


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_golden_file_round_trips(path: Path) -> None:
    """Every entry decodes to a journal entry and encodes back to the same JSON."""
    journal = _load(path)["journal"]
    assert [to_json(from_json(e)) for e in journal] == journal


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
async def test_golden_journal_replays_to_the_same_commands(path: Path) -> None:
    """Replaying the recorded journal (without its output) matches every recorded command,
    journals nothing new and returns the recorded output."""
    golden = _load(path)
    journal = [from_json(e) for e in golden["journal"]]
    output = journal.pop()
    assert isinstance(output, OutputCommand)
    target = golden["target"]
    engine = MemoryEngine(
        app,
        Target(target["service"], target["handler"], target["key"]),
        iid=InvocationId.parse(golden["invocation_id"]),
    )
    engine.journal = journal
    ended = await engine.attempt()
    assert isinstance(ended, AttemptCompleted), ended
    assert ended.entries == []
    assert ended.result == output.result
    assert engine.loads == 0  # every state read came from the journal
