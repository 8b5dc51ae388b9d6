"""The rules behind API keys, without I/O: the failed-authentication budget per client
address, which address a request came from, and what `--expires` accepts."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest

from service.auth import FailureLimiter, TooManyFailedAuthentications, client_address, parse_expiry


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestFailureLimiter:
    def test_a_burst_then_one_failure_per_refill_interval(self) -> None:
        clock = Clock()
        limiter = FailureLimiter(burst=3, per_minute=6, clock=clock)  # one back every 10 s
        for _ in range(3):
            limiter.check("a")
            limiter.fail("a")
        with pytest.raises(TooManyFailedAuthentications) as refused:
            limiter.check("a")
        assert refused.value.retry_after == 10
        clock.now += 4
        with pytest.raises(TooManyFailedAuthentications) as refused:
            limiter.check("a")
        assert refused.value.retry_after == 6  # said when: the rest of the interval
        clock.now += 6
        limiter.check("a")

    def test_addresses_have_budgets_of_their_own(self) -> None:
        limiter = FailureLimiter(burst=1, per_minute=1, clock=Clock())
        limiter.fail("a")
        limiter.check("b")
        with pytest.raises(TooManyFailedAuthentications):
            limiter.check("a")

    def test_only_failures_use_the_budget(self) -> None:
        # Checks alone (valid keys, however many at once) never exhaust it.
        limiter = FailureLimiter(burst=1, per_minute=1, clock=Clock())
        for _ in range(1000):
            limiter.check("a")

    def test_burst_zero_is_no_limit(self) -> None:
        limiter = FailureLimiter(burst=0, per_minute=1)
        for _ in range(1000):
            limiter.fail("a")
            limiter.check("a")

    def test_memory_is_bounded_however_many_addresses_fail(self) -> None:
        clock = Clock()
        limiter = FailureLimiter(burst=2, per_minute=60, clock=clock)
        for n in range(FailureLimiter.MAX_ADDRESSES + 500):
            limiter.fail(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}")
        assert len(limiter._buckets) <= FailureLimiter.MAX_ADDRESSES


PROXIES = (ipaddress.ip_network("192.0.2.0/24"), ipaddress.ip_network("2001:db8::/32"))


@pytest.mark.parametrize(("remote", "forwarded", "trusted", "client"), [
    ("198.51.100.1", None, PROXIES, "198.51.100.1"),
    # Not from a trusted proxy: the header is the client's own claim, ignored.
    ("198.51.100.1", "203.0.113.9", PROXIES, "198.51.100.1"),
    ("192.0.2.1", "203.0.113.9", (), "192.0.2.1"),
    # From a trusted proxy: the nearest hop that is not one of ours.
    ("192.0.2.1", "203.0.113.9", PROXIES, "203.0.113.9"),
    ("192.0.2.1", "10.0.0.1, 203.0.113.9", PROXIES, "203.0.113.9"),
    ("192.0.2.1", "203.0.113.9, 192.0.2.7", PROXIES, "203.0.113.9"),
    ("2001:db8::1", "203.0.113.9", PROXIES, "203.0.113.9"),
    ("192.0.2.1", "192.0.2.8, 192.0.2.7", PROXIES, "192.0.2.8"),
    ("192.0.2.1", "junk", PROXIES, "junk"),
    ("192.0.2.1", "", PROXIES, "192.0.2.1"),
    (None, None, (), "unknown"),
])
def test_the_client_address(remote: str | None, forwarded: str | None,
                            trusted: tuple, client: str) -> None:
    assert client_address(remote, forwarded, trusted) == client


NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "expiry"), [
    ("90d", NOW + timedelta(days=90)),
    ("12h", NOW + timedelta(hours=12)),
    ("30m", NOW + timedelta(minutes=30)),
    ("45s", NOW + timedelta(seconds=45)),
    ("2w", NOW + timedelta(weeks=2)),
    ("P90D", NOW + timedelta(days=90)),
    ("P2W", NOW + timedelta(weeks=2)),
    ("PT12H", NOW + timedelta(hours=12)),
    ("P1DT2H30M", NOW + timedelta(days=1, hours=2, minutes=30)),
    ("2026-12-31T00:00:00Z", datetime(2026, 12, 31, tzinfo=UTC)),
    ("2026-12-31T02:00:00+02:00", datetime(2026, 12, 31, tzinfo=UTC)),
])
def test_expires_is_an_instant_or_a_duration_from_now(text: str, expiry: datetime) -> None:
    assert parse_expiry(text, NOW) == expiry


@pytest.mark.parametrize(("text", "says"), [
    ("2026-12-31", "needs a UTC offset"),
    ("2026-12-31T00:00:00", "needs a UTC offset"),
    ("0d", "longer than zero"),
    ("PT0S", "longer than zero"),
    ("P", "neither"), ("PT", "neither"), ("P1DT", "neither"), ("1y", "neither"),
    ("-5d", "neither"), ("5 d", "neither"), ("\u0665d", "neither"), ("", "neither"),
    ("99999999d", "too long"),
])
def test_a_bad_expiry_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_expiry(text, NOW)
