"""How `make test` shares the tests between its two pytest-xdist workers, and tells them apart.

End-to-end and deployment tests share the repository's files: the package
Chalice builds in `.chalice/deployments`, the code a `make run` under test
watches, a session's `make run`. They all go to one worker, in turn, as one
unit of work; every other test is a unit of its own, for either worker.

xdist's own `--dist loadgroup` would do this with a mark, but it renames the
tests it groups through an attribute that pytest 9 no longer reads.
"""

import pytest
from xdist.scheduler import LoadScopeScheduling

SHARING_THE_REPOSITORY = ("tests/e2e/", "tests/deploy/")


class OneWorkerForTheRepository(LoadScopeScheduling):  # type: ignore[misc]  # xdist is untyped
    """xdist's scheduling by scope, where the scope is the repository's files or the test alone."""

    def _split_scope(self, nodeid: str) -> str:
        return unit_of_work(nodeid)


def unit_of_work(nodeid: str) -> str:
    """The scope a test is scheduled with: the repository's files, or the test alone."""
    return "the repository's files" if nodeid.startswith(SHARING_THE_REPOSITORY) else nodeid


def name_parameters_in_node_ids(items: list[pytest.Item]) -> None:
    """Give each schemathesis test of one API operation a node id of its own, as its name has.

    schemathesis names them "test[POST /v1/batch]", but pytest 9 builds a node id
    from the parameters of a call it made, and schemathesis makes none: every
    operation's test gets the function's bare id. xdist tells tests apart by
    node id alone, and would run one operation of eleven.
    """
    for item in items:
        bare = item.nodeid.rpartition("::")[2]
        if "[" not in item.nodeid and item.name.startswith(f"{bare}[") and item.name.endswith("]"):
            item._id = item._id.with_params(item.name[len(bare) + 1 : -1])
