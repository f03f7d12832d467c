"""`make test`'s workers: every test is told apart from the others, and runs."""

import subprocess
import sys
from collections import Counter

from tests.scheduling import unit_of_work


def test_every_collected_test_has_a_node_id_of_its_own() -> None:
    # GIVEN the whole suite, collected as each xdist worker collects it
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    node_ids = [line for line in result.stdout.splitlines() if "::" in line]
    # THEN no two share a node id, which is all xdist knows a test by (the schemathesis operations included)
    assert len(node_ids) > 700
    assert [node_id for node_id, count in Counter(node_ids).items() if count > 1] == []
    assert len([node_id for node_id in node_ids if "test_openapi_conformance.py" in node_id]) > 1


def test_tests_sharing_the_repository_are_one_unit_of_work_and_the_rest_one_each() -> None:
    scopes = {
        unit_of_work(node_id) for node_id in ("tests/e2e/test_a.py::test_a", "tests/deploy/test_b.py::test_b[dev]")
    }
    assert len(scopes) == 1
    assert unit_of_work("tests/functional/test_c.py::test_c") == "tests/functional/test_c.py::test_c"
