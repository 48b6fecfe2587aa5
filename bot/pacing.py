"""Keep one workspace's posts at the pace Slack accepts, instead of finding the limit by being refused.

Slack limits ``chat.postMessage`` per workspace (and per channel) and answers ``429`` with
``Retry-After`` beyond that; a 429 costs a request and a wait but posts nothing. The clock posts to a
workspace from several threads at once (one per channel at a time), and left to themselves each
thread meets the limit on its own: on a busy Monday most of their requests were 429s, and the work
of sending and refusing them slowed every other workspace's posts in the same process.

``Pace`` is shared by every thread posting with one workspace's token:

- a 429 pauses the whole workspace for its ``Retry-After`` (as Slack asks), not just the thread that
  met it, and sets the spacing between posts to the rate Slack accepted over the last few seconds;
- each accepted post shortens the spacing a little, so the pace creeps back up when the limit rises
  (or was under-estimated) and settles just under it;
- until the first 429 there is no spacing at all: a workspace that is never limited never waits.

Nothing here knows about Slack; ``bot.slack_client`` applies it to the calls that post.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

MIN_SPAN_SECONDS = 1.0  # the shortest span to measure a rate over
HISTORY_SECONDS = 600.0  # accepted posts remembered (for the time back to the last 429)
MAX_INTERVAL_SECONDS = 60.0  # never slower than a post a minute
MAX_SLOW_DOWN = 1.1  # one span's measure slows the pace by at most a tenth
MARGIN = 1.03  # pace 3% under the rate measured, so that the allowance refills and absorbs uneven timing
SPEED_UP = 0.9995  # each accepted post shortens the spacing by 0.05%, to find out whether the limit has risen
SPEED_UP_CALM = 0.99  # ...by 1% when Slack has not refused for a while
CALM_SECONDS = 30.0


class Pace:
    def __init__(self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._interval = 0.0  # seconds between posts; 0 until Slack first limits us
        self._next = 0.0  # the earliest time the next post may start
        self._paused_until = 0.0
        self._pause_end: float | None = None  # when the last pause ended (or ends)
        self._span: tuple[float, float] | None = None  # between two pauses' ends: to measure once it is over
        self._started: float | None = None
        self._accepted: deque[float] = deque()
        self.limited_count = 0  # 429s answered
        self.pauses = 0  # times every thread paused for Retry-After

    @property
    def interval(self) -> float:
        return self._interval

    def wait(self) -> None:
        """Block until this caller may post."""
        while True:
            with self._lock:
                now = self._clock()
                if self._started is None:
                    self._started = now
                self._measure(now)
                start = max(now, self._next, self._paused_until)
                if start <= now:
                    self._next = now + self._interval
                    return
            self._sleep(start - now)

    def accepted(self) -> None:
        """Slack took a post: speed up a little (more while Slack has not refused for a while)."""
        with self._lock:
            now = self._clock()
            self._measure(now)
            self._accepted.append(now)
            while len(self._accepted) > 1 and self._accepted[0] <= now - HISTORY_SECONDS:
                self._accepted.popleft()
            calm = now - self._paused_until > CALM_SECONDS
            self._interval *= SPEED_UP_CALM if calm else SPEED_UP

    def limited(self, retry_after: float) -> None:
        """Slack answered 429: pause everyone for ``retry_after``; once the pause is over, pace at the rate
        Slack took since the end of the previous pause."""
        with self._lock:
            now = self._clock()
            self.limited_count += 1
            if now < self._paused_until:
                return  # a request sent before the pause began: already accounted for
            self._measure(now)
            self.pauses += 1
            self._paused_until = now + retry_after
            previous, self._pause_end = self._pause_end, self._paused_until
            if previous is not None and self._paused_until - previous >= MIN_SPAN_SECONDS:
                self._span = (previous, self._paused_until)

    def _measure(self, now: float) -> None:
        """Set the spacing from the last span between two pauses' ends, once it is over.

        Slack refuses once the workspace's allowance is used up and each pause lets it build up again, so
        from the end of one pause to the end of the next Slack took what it allows in that time. Counting
        only once the second pause is over means every answer to a request sent before it has arrived (a
        burst's answers come back in any order)."""
        if self._span is None or now < self._span[1]:
            return
        start, end = self._span
        self._span = None
        taken = sum(1 for t in self._accepted if start < t <= end)
        measured = MARGIN * (end - start) / max(1, taken)
        if self._interval > 0:
            # A refusal says our pace was too fast, never that we may go faster; and one refusal while we were
            # posting below the limit (a late thread, uneven timing) must not slow us by much.
            measured = min(max(measured, self._interval), self._interval * MAX_SLOW_DOWN)
        self._interval = min(measured, MAX_INTERVAL_SECONDS)
