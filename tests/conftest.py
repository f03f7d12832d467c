"""Fixtures: the real Chalice app, on moto, with a deployment's topics, queues and key table."""

import os
import signal
from collections.abc import Generator, Iterator
from pathlib import Path
from types import FrameType

import pytest

# Fake credentials and a region before any client exists; nothing here reaches AWS.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
)
for _variable in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SNS", "AWS_ENDPOINT_URL_DYNAMODB"):
    os.environ.pop(_variable, None)

from chalice.test import Client  # noqa: E402
from moto import mock_aws  # noqa: E402

from app import app  # noqa: E402
from chalicelib.process_cache import forget_all  # noqa: E402
from tests.aws import Deployment  # noqa: E402
from tests.helpers import Api, configure  # noqa: E402
from tests.scheduling import OneWorkerForTheRepository, name_parameters_in_node_ids  # noqa: E402
from tools.emulator import patch_moto  # noqa: E402

# moto as `make run` runs it: what the service's calls need of DynamoDB, as DynamoDB does it.
patch_moto()

E2E = Path(__file__).parent / "e2e"
# An end-to-end test starts servers and subprocesses and waits on real HTTP: on two busy cores, the
# longest takes 60 s, and its module's first test also starts `make run`.
E2E_TIMEOUT_SECONDS = 300


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> OneWorkerForTheRepository:
    """`make test`'s two workers (pytest-xdist) run end-to-end and deployment tests in one of them, in turn."""
    return OneWorkerForTheRepository(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """End-to-end tests get a longer time limit than pyproject's, unless the command line gave one for all."""
    name_parameters_in_node_ids(items)
    if config.getoption("timeout") is not None:
        return
    for item in items:
        if E2E in item.path.parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(E2E_TIMEOUT_SECONDS))


class OutOfTime(BaseException):
    """A test past its time limit.

    Not pytest's `Failed`, which pytest-timeout raises: hypothesis takes that for
    a failing example and runs more of them, shrinking, with no limit left.
    Neither hypothesis nor an `except Exception` catches this; pytest reports the
    test failed and still runs its fixtures' teardown.
    """


@pytest.hookimpl(wrapper=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: object) -> Generator[None, object, object]:
    """pytest-timeout's signal handler (it dumps every thread's stack), raising `OutOfTime` in place of `Failed`."""
    armed = yield
    dump_and_fail = signal.getsignal(signal.SIGALRM)
    if callable(dump_and_fail):

        def out_of_time(signum: int, frame: FrameType | None) -> None:
            try:
                dump_and_fail(signum, frame)
            except pytest.fail.Exception as failed:
                raise OutOfTime(str(failed)) from None

        signal.signal(signal.SIGALRM, out_of_time)
    return armed


@pytest.fixture
def aws() -> Iterator[None]:
    """moto for every AWS call, with the service's per-process clients and caches built afresh."""
    with mock_aws():
        forget_all()
        yield
    forget_all()


@pytest.fixture
def deployment(aws: None, monkeypatch: pytest.MonkeyPatch) -> Deployment:
    """A topic and subscribed queue per event type, and the key table."""
    deployment = Deployment()
    deployment.add_topics()
    configure(monkeypatch, deployment)
    return deployment


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, Deployment]]:
    """One deployment for a whole module of tests that each drain the queues before they post.

    For the long parametrized corpus tests, where building a deployment per test would dominate.
    """
    with mock_aws(), pytest.MonkeyPatch.context() as monkeypatch:
        forget_all()
        deployment = Deployment()
        deployment.add_topics()
        configure(monkeypatch, deployment)
        client = Client(app, project_dir=str(tmp_path_factory.mktemp("chalice")))
        yield Api(client, deployment.create_key("1234")), deployment
    forget_all()


@pytest.fixture
def client(tmp_path: Path) -> Client:
    """Chalice's test client without a stage's environment: tests set it themselves."""
    return Client(app, project_dir=str(tmp_path))


@pytest.fixture
def api(client: Client, deployment: Deployment) -> Api:
    """The app, with an active key for account 1234."""
    return Api(client, deployment.create_key("1234"))


@pytest.fixture
def deduplicating(client: Client, aws: None, monkeypatch: pytest.MonkeyPatch) -> tuple[Api, Deployment]:
    """The app with a dedup table, and an active key for account 1234."""
    deployment = Deployment(dedup=True)
    deployment.add_topics()
    configure(monkeypatch, deployment)
    return Api(client, deployment.create_key("1234")), deployment
