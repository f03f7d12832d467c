"""How `make test` shares the tests between its two pytest-xdist workers.

End-to-end and deployment tests share the repository's files: the package
Chalice builds in `.chalice/deployments`, the code a `make run` under test
watches, a session's `make run`. They all go to one worker, in turn, as one
unit of work; every other test is a unit of its own, for either worker.

xdist's own `--dist loadgroup` would do this with a mark, but it renames the
tests it groups through an attribute that pytest 9 no longer reads.
"""

from xdist.scheduler import LoadScopeScheduling

SHARING_THE_REPOSITORY = ("tests/e2e/", "tests/deploy/")


class OneWorkerForTheRepository(LoadScopeScheduling):  # type: ignore[misc]  # xdist is untyped
    """xdist's scheduling by scope, where the scope is the repository's files or the test alone."""

    def _split_scope(self, nodeid: str) -> str:
        return "the repository's files" if nodeid.startswith(SHARING_THE_REPOSITORY) else nodeid
