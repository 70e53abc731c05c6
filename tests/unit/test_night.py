"""The partnership's night: which night a moment is in, across the clock changes, and when the build may start."""

import datetime as dt
from zoneinfo import ZoneInfo

from cspwh.catalogue import night

LONDON = ZoneInfo("Europe/London")
CONFIG = night.Night(
    LONDON, {"storm_asb": dt.time(1, 30), "sentinel_asb": dt.time(1, 45), "late_evening": dt.time(23, 0)}, dt.time(6, 0)
)
UTC = dt.UTC


def test_a_night_runs_from_one_cut_off_to_the_next_in_local_time():
    # 05:59 BST on 2 July is 04:59 UTC; 06:00 BST is the next night
    assert CONFIG.night_of(dt.datetime(2026, 7, 2, 4, 59, tzinfo=UTC)) == dt.date(2026, 7, 2)
    assert CONFIG.night_of(dt.datetime(2026, 7, 2, 5, 0, tzinfo=UTC)) == dt.date(2026, 7, 3)
    # in winter local time is UTC
    assert CONFIG.night_of(dt.datetime(2026, 12, 2, 5, 59, tzinfo=UTC)) == dt.date(2026, 12, 2)
    assert CONFIG.night_of(dt.datetime(2026, 12, 2, 6, 0, tzinfo=UTC)) == dt.date(2026, 12, 3)


def test_feeds_start_at_their_local_time_and_an_evening_start_belongs_to_the_next_night():
    due = CONFIG.due(dt.date(2026, 3, 29))  # the clocks go forward at 01:00 UTC that morning
    assert due["storm_asb"] == dt.datetime(2026, 3, 29, 1, 30, tzinfo=LONDON)
    assert due["late_evening"] == dt.datetime(2026, 3, 28, 23, 0, tzinfo=LONDON)
    assert CONFIG.cron("sentinel_asb") == "45 1 * * *"


def test_the_scheduled_build_waits_for_every_feed_due_tonight_then_starts():
    tonight = dt.date(2026, 12, 2)
    at = lambda h, m: dt.datetime(2026, 12, 2, h, m, tzinfo=UTC)  # noqa: E731 (winter: local is UTC)
    evening_done = {"late_evening"}
    # storm finished at 01:32; sentinel is due at 01:45: wait
    reasons = night.still_waiting(tonight, at(1, 33), {}, evening_done | {"storm_asb"}, True, at(1, 32), CONFIG)
    assert reasons == ["sentinel_asb is due at 01:45 GMT"]
    # sentinel is running (its pull retrying): wait
    assert night.still_waiting(
        tonight, at(2, 10), {"sentinel_asb": 1}, evening_done | {"storm_asb"}, True, at(1, 32), CONFIG
    ) == ["sentinel_asb is running (1 run(s))"]
    # every feed ended (one of them failed: it still ended): build
    assert (
        night.still_waiting(
            tonight, at(2, 30), {}, evening_done | {"storm_asb", "sentinel_asb"}, True, at(2, 29), CONFIG
        )
        == []
    )
    # a feed whose run never appeared (paused) is not waited for past its grace
    assert night.still_waiting(tonight, at(2, 0), {}, evening_done | {"storm_asb"}, True, at(1, 32), CONFIG) == []
    # past the cut-off nothing is waited for, even a feed still running
    assert night.still_waiting(tonight, at(6, 0), {"sentinel_asb": 1}, set(), True, at(1, 32), CONFIG) == []


def test_after_feeds_triggered_by_hand_the_build_waits_for_a_quiet_spell(monkeypatch):
    monkeypatch.setenv("CSPWH_NIGHT_QUIET_SECONDS", "120")
    tonight, now = dt.date(2026, 12, 2), dt.datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    assert night.still_waiting(tonight, now, {}, set(), False, now - dt.timedelta(seconds=30), CONFIG)
    assert night.still_waiting(tonight, now, {}, set(), False, now - dt.timedelta(seconds=121), CONFIG) == []
    assert night.still_waiting(tonight, now, {"storm_asb": 1}, set(), False, None, CONFIG) == [
        "storm_asb is running (1 run(s))"
    ]
