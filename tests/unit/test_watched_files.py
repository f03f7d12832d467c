"""Which files `make run` restarts the service for: the code and the stage configuration, nothing else."""

import os
from pathlib import Path

import pytest

from tools.watched_files import WatchedFiles


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project as the service's: its code, its stages, and what tools write beside them."""
    for name in (
        "app.py",
        "chalicelib/__init__.py",
        "chalicelib/keys/__init__.py",
        ".chalice/config.json",
        ".chalice/policy-dev.json",
        "requirements.txt",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    return tmp_path


def test_nothing_has_changed_until_a_file_does(project: Path) -> None:
    assert WatchedFiles(project).changes() == []


@pytest.mark.parametrize(
    "name", ["app.py", "chalicelib/keys/__init__.py", ".chalice/config.json", ".chalice/policy-dev.json"]
)
def test_a_modified_file_of_the_code_or_the_stages_is_a_change(project: Path, name: str) -> None:
    # GIVEN the files as they are
    watched = WatchedFiles(project)
    # WHEN one is saved with another modification time, even an earlier one (a checkout can do that)
    saved = (project / name).stat()
    os.utime(project / name, ns=(saved.st_atime_ns, saved.st_mtime_ns - 1_000_000_000))
    # THEN it is the change, once
    assert watched.changes() == [name]
    assert watched.changes() == []


def test_added_and_removed_files_are_changes(project: Path) -> None:
    watched = WatchedFiles(project)
    (project / "chalicelib" / "routing.py").write_text("")
    (project / "chalicelib" / "keys" / "__init__.py").unlink()
    assert watched.changes() == ["chalicelib/keys/__init__.py", "chalicelib/routing.py"]


@pytest.mark.parametrize(
    "name",
    [
        ".venv/lib/python3.11/site-packages/boto3/__init__.py",
        "segment-actions/node_modules/@segment/actions-core/index.js",
        "requirements.txt",
        "tests/test_new.py",
        "chalicelib/__pycache__/ingest.cpython-311.pyc",
        ".chalice/deployments/0123-python3.11.zip",
        ".chalice/venv/lib/python3.11/site-packages/six.py",
    ],
)
def test_files_beside_the_code_are_not_watched(project: Path, name: str) -> None:
    # GIVEN the files as they are
    watched = WatchedFiles(project)
    # WHEN an install, a test run, bytecode or chalice's caches write elsewhere
    (project / name).parent.mkdir(parents=True, exist_ok=True)
    (project / name).write_text("")
    # THEN nothing changed
    assert watched.changes() == []
