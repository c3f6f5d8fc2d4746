from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.world import Web, copy_of, play_demo_into, web_on


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo season played once; each test gets a copy of its data directory."""
    directory = tmp_path_factory.mktemp("demo-template") / "data"
    play_demo_into(directory)
    return directory


@pytest.fixture
def web(demo_template: Path, tmp_path: Path) -> Iterator[Web]:
    with web_on(copy_of(demo_template, tmp_path / "data")) as world:
        yield world
