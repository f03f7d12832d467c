"""The files `make run` restarts the service for: its code and its stage's configuration.

Chalice's own reloader polls every file under the project, the virtualenv and
`node_modules` included (some 36,000): a quarter of a core while idle, and a
restart for each burst of files `pip install` or `npm ci` writes. The service
runs from a few dozen files; these are the only ones looked at.
"""

from collections.abc import Iterator
from pathlib import Path

# The routes, what they delegate to, and the stages' configuration and IAM policies.
CODE = ("app.py", "chalicelib")
STAGE_CONFIG = ".chalice"


class WatchedFiles:
    """The watched files of a project as last seen, and which of them changed since."""

    def __init__(self, project: Path) -> None:
        self.project = project
        self._seen = modification_times(project)

    def changes(self) -> list[str]:
        """The files added, removed or modified since the last look, relative to the project."""
        now = modification_times(self.project)
        changed = sorted(path for path in self._seen.keys() | now.keys() if self._seen.get(path) != now.get(path))
        self._seen = now
        return [str(path.relative_to(self.project)) for path in changed]


def modification_times(project: Path) -> dict[Path, int]:
    """Each watched file and its modification time in nanoseconds.

    Any difference counts, not only a later time: a checkout or a restored
    backup can bring a file back with an older one.
    """
    times = {}
    for path in _watched(project):
        try:
            times[path] = path.stat().st_mtime_ns
        except FileNotFoundError:  # removed since it was listed: absent, as it will be at the next look
            continue
    return times


def _watched(project: Path) -> Iterator[Path]:
    for name in CODE:
        path = project / name
        if path.is_file():
            yield path
        # Bytecode is what the service writes itself on importing the code: not a change to it.
        yield from (found for found in path.rglob("*") if found.is_file() and "__pycache__" not in found.parts)
    # Only the files directly in .chalice/: its deployments/ and venv/ are chalice's own caches.
    yield from (found for found in (project / STAGE_CONFIG).glob("*") if found.is_file())
