"""wakeful offers restate-sdk's public surface, module by module (restate-sdk: a dev dependency)."""

from __future__ import annotations

import importlib.metadata

import pytest
from tests.sdk.surface import MODULES, differences


def test_restate_sdk_version_is_the_one_mirrored() -> None:
    """The installed restate-sdk is the release wakeful mirrors (bump both together)."""
    assert importlib.metadata.version("restate-sdk") == "1.3.0"


@pytest.mark.parametrize(("restate_module", "wakeful_module"), sorted(MODULES.items()))
def test_module_surface_matches_restate(restate_module: str, wakeful_module: str) -> None:
    """Every public name, class member and parameter of the restate module exists in wakeful's."""
    assert differences(restate_module, wakeful_module) == []
