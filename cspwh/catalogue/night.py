"""The partnership's night: when each feed runs (local time), which night a moment belongs to, and whether the
warehouse build should still wait for a feed. Light imports only: the DAG files read it on every parse.

A night is named by the date its feeds run on, and runs from one cut-off to the next: with a 06:00 cut-off, 05:59 on
2 March belongs to the night of 2 March and 06:00 to the night of 3 March."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import os
from zoneinfo import ZoneInfo

from cspwh.catalogue import reference


@dataclasses.dataclass(frozen=True)
class Night:
    timezone: ZoneInfo
    feeds: dict[str, dt.time]
    cut_off: dt.time

    def cron(self, feed: str) -> str:
        """The feed DAG's daily schedule, read in `timezone`."""
        start = self.feeds[feed]
        return f"{start.minute} {start.hour} * * *"

    def night_of(self, moment: dt.datetime) -> dt.date:
        local = moment.astimezone(self.timezone)
        return local.date() + dt.timedelta(days=1) if local.time() >= self.cut_off else local.date()

    def cut_off_of(self, night: dt.date) -> dt.datetime:
        return dt.datetime.combine(night, self.cut_off, tzinfo=self.timezone)

    def due(self, night: dt.date) -> dict[str, dt.datetime]:
        """When each feed starts in that night (a start after the cut-off belongs to the evening before)."""
        out = {}
        for feed, start in self.feeds.items():
            day = night if start < self.cut_off else night - dt.timedelta(days=1)
            out[feed] = dt.datetime.combine(day, start, tzinfo=self.timezone)
        return out


def _time(text: str) -> dt.time:
    try:
        return dt.time.fromisoformat(str(text))
    except ValueError as exc:
        raise ValueError(f"partnership.yml night: {text!r} is not a time of day HH:MM") from exc


@functools.cache
def config() -> Night:
    night = reference.partnership().get("night") or {}
    feeds = {feed: _time(start) for feed, start in (night.get("feeds") or {}).items()}
    return Night(ZoneInfo(night.get("timezone", "Europe/London")), feeds, _time(night.get("cut_off", "06:00")))


def grace() -> dt.timedelta:
    """How long after a feed's start time its run may take to appear (a busy scheduler) before it is not waited for."""
    return dt.timedelta(seconds=float(os.environ.get("CSPWH_NIGHT_GRACE_SECONDS") or 600))


def quiet() -> dt.timedelta:
    """After feeds an operator triggered by hand, how long no feed may have run before the build starts (a person
    triggering the night's feeds one after another is not cut short)."""
    return dt.timedelta(seconds=float(os.environ.get("CSPWH_NIGHT_QUIET_SECONDS") or 120))


def still_waiting(
    night: dt.date,
    now: dt.datetime,
    active: dict[str, int],
    finished: set[str],
    scheduled: bool,
    last_feed_end: dt.datetime | None,
    schedule: Night | None = None,
) -> list[str]:
    """Why the night's build should not start yet (empty: build now).

    active: feed -> runs queued or running now. finished: feeds whose run for tonight's start time has ended.
    scheduled: the build was set off by the feeds' own schedule (not by runs an operator triggered).
    Past the night's cut-off nothing is waited for."""
    night_config = schedule or config()
    if now >= night_config.cut_off_of(night):
        return []
    reasons = [f"{feed} is running ({n} run(s))" for feed, n in sorted(active.items()) if n]
    if scheduled:
        for feed, start in sorted(night_config.due(night).items()):
            if feed not in finished and not active.get(feed) and now < start + grace():
                reasons.append(f"{feed} is due at {start:%H:%M %Z}")
    elif last_feed_end is not None and now < last_feed_end + quiet():
        reasons.append(
            f"the last feed run ended at {last_feed_end:%H:%M:%S}; waiting {quiet().total_seconds():.0f} s for "
            "another an operator may trigger"
        )
    return reasons
