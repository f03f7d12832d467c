"""Fixtures: each deployable stage packaged once by `chalice package`, as CloudFormation users get it."""

import json
from pathlib import Path
from typing import Any

import pytest

from tools.deploy import load_config, package

STAGES = ("dev", "prod")


@pytest.fixture(scope="session")
def packaged_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The SAM template `make package` writes for each stage (about 2 s a stage)."""
    return {stage: package(stage, tmp_path_factory.mktemp(f"package-{stage}")) for stage in STAGES}


@pytest.fixture(scope="session")
def packaged(packaged_paths: dict[str, Path]) -> dict[str, dict[str, Any]]:
    return {stage: json.loads(path.read_text()) for stage, path in packaged_paths.items()}


@pytest.fixture(scope="session")
def config() -> dict[str, Any]:
    return load_config()
