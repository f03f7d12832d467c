"""The throttles `make run`'s server applies, as API Gateway's token buckets: burst first, then the rate."""

from tools.gateway_limits import BATCH_METHOD, Throttle
from tools.local_gateway import Throttles, TokenBucket

# So slow a refill that a test never sees a token come back.
STILL = 0.001


def test_a_bucket_lets_its_burst_through_at_once_then_refuses() -> None:
    bucket = TokenBucket(Throttle(rate_limit=STILL, burst_limit=3))
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def throttles(account_burst: int, batch_burst: int, stage_burst: int = 100) -> Throttles:
    return Throttles(
        {
            "api_gateway_throttling": {"rate_limit": STILL, "burst_limit": stage_burst},
            "account_throttling": {"rate_limit": STILL, "burst_limit": account_burst},
            "account_batch_throttling": {"rate_limit": STILL, "burst_limit": batch_burst},
        }
    )


def test_each_key_has_its_own_buckets_and_batches_one_of_their_own() -> None:
    # GIVEN accounts allowed 3 requests at once, and 2 batches
    limits = throttles(account_burst=3, batch_burst=2)

    # WHEN one key sends three batches, THEN the third is refused
    assert [limits.admits("loud", BATCH_METHOD) for _ in range(3)] == [True, True, False]
    # AND another key is untouched by it
    assert limits.admits("quiet", BATCH_METHOD)
    # AND the loud key's other requests have their own limit, as a usage plan's method limit replaces its own
    assert [limits.admits("loud", "/v1/segment/POST") for _ in range(4)] == [True, True, True, False]


def test_the_stage_bucket_holds_every_request_and_routes_without_a_key_only_by_it() -> None:
    # GIVEN a stage allowed 2 requests at once
    limits = throttles(account_burst=10, batch_burst=10, stage_burst=2)

    # THEN a route without a key spends the stage's tokens, and then every account is refused
    assert limits.admits(None, "/v1/webhook/{account_id}/POST")
    assert limits.admits("quiet", "/v1/segment/POST")
    assert not limits.admits("other", "/v1/segment/POST")
