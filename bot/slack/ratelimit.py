"""How hard to press a workspace Slack is rate-limiting: one ``Gate`` per (token, Web API method).

Why this exists. Slack's limits are per workspace and method (and per channel for posts). The clock
posts to a workspace from several threads, and without a shared view each thread meets the limit on
its own: it is refused (429), sleeps Retry-After, and comes back together with all the others, to be
refused again. A saturated workspace then answers about as many 429s as posts, and every refusal
costs a round trip, a thread's sleep and a retry. The gate lets the threads that share a token learn
from each other's refusals, without guessing a rate Slack never tells us.

What it does:

- **Open**: every call goes out at once; nothing is held back, and no pace is imposed.
- **One refusal proves little**: it may be one busy channel (1 post/s each) or a random 429. So the
  first refusal holds nothing back; it only starts a new *epoch*. The next answer to a call sent
  after it decides: accepted, and the gate stays open; refused, and the workspace is over its limit.
  A second refusal with nothing accepted in between says the same (threads refused all at once).
- **Closed**: after that second refusal no call goes out until the longest Retry-After Slack gave
  has passed (later refusals of calls already in flight can extend the closure, never shorten it).
- **Reopening**: then one call at a time, so the allowance that refilled is spent without another
  burst of refusals. If a call is refused before ``PROBE_AFTER`` calls in a row were accepted, the gate
  closes again for Retry-After; that is how a saturated workspace ends up posting at Slack's own rate
  with about one refusal per closure. The window widens (doubles) only when answers are slow, where
  one call at a time would cost throughput rather than save refusals. After ``REOPEN_AFTER`` accepted
  in a row the gate is open again.
- **Giving up**: a wait longer than ``MAX_WAIT`` (a Retry-After of minutes), a call that has already
  spent ``CALL_BUDGET`` (``bot.config``) seconds waiting, or a workspace that has refused everything (``GIVE_UP``
  refusals, or refusals and Retry-Afters adding up to more than ``MAX_WAIT`` seconds, with nothing
  accepted; calls give up until its Retry-After has passed, then one call probes it again) raises
  ``GaveUp`` at once instead of parking threads. The caller reports the post as rate-limited; the clock's next sweep tries again. Slack did nothing
  with a call the gate held back, so that is safe. The budget matters for exactly-once: a post is
  claimed for a lease (``SCR_CLAIM_LEASE_SECONDS``, 300 s) and must not still be waiting to be sent
  when the lease lapses and another process takes the claim over.

The price, written down on purpose: the gate trusts Retry-After. A limiter whose Retry-After overstates
the wait (a token bucket that refills faster than its burst, answering "1 s" when 50 ms would do) gets
fewer calls than it would allow, down to about one burst per Retry-After. Slack's own limits are per
minute with bursts, where Retry-After is the real wait. A gate lives in one process; a rotated token
gets a fresh gate.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

DEFAULT_RETRY_AFTER = 1.0  # seconds, when Slack's Retry-After is missing or unreadable
MIN_RETRY_AFTER = 0.5  # "0" or a date in the past: still leave the limiter a moment
MAX_RETRY_AFTER = 900.0  # a wait longer than this is not believed (15 minutes)
MAX_WAIT = 75.0  # longer than this, give up for this run rather than park threads (Slack's windows are a minute)
# A call made while a person waits (a button, App Home, a command's answer): a few seconds' Retry-After is worth
# waiting out, minutes are not (they get "try again" instead of a minute's silence, and the thread is free).
REQUEST_BUDGET = 10.0
# A call that spends a trigger_id (views.open/push), whoever makes it: Slack accepts it for 3 s after the click.
TRIGGER_BUDGET = 2.0
TRIGGER_METHODS = frozenset({"views.open", "views.push"})
GIVE_UP = 8  # refusals in a row, with nothing accepted, after which a workspace is given up for this closure
PROBE_AFTER = 3  # calls accepted in a row while reopening before one refusal is taken as noise again
REOPEN_AFTER = 16  # calls accepted in a row while reopening before the gate is open again
SLOW_ANSWER = 0.2  # seconds: an answer this slow widens the reopening window (one at a time costs throughput)
MAX_WINDOW = 32

OPEN, CLOSED, REOPENING = "open", "closed", "reopening"


def retry_after_seconds(value: str | float | None, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> float:
    """Slack's Retry-After as seconds to wait: a number of seconds (fractions allowed) or an HTTP date.
    Missing or unreadable (garbage, ``inf``, ``nan``) -> 1 s; never under 0.5 s or over 15 minutes."""
    if value is None:
        return DEFAULT_RETRY_AFTER
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        try:
            when = parsedate_to_datetime(str(value))
        except (TypeError, ValueError, IndexError):
            return DEFAULT_RETRY_AFTER
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now()).total_seconds()
    if not math.isfinite(seconds):
        return DEFAULT_RETRY_AFTER
    return min(MAX_RETRY_AFTER, max(MIN_RETRY_AFTER, seconds))


class GaveUp(Exception):  # noqa: N818 - reads as "raise GaveUp(wait)"
    """The gate will not send this call now: the workspace is closed for longer than ``MAX_WAIT`` or than
    the call's budget allows, or it has refused everything. Nothing was sent, so trying again later is safe."""

    def __init__(self, wait: float):
        super().__init__(f"rate limited for another {wait:.0f} s")
        self.wait = wait


@dataclass(frozen=True)
class Ticket:
    """What the gate knew when a call went out: its epoch, and whether it holds a reopening slot."""

    epoch: int
    period: int  # which reopening period the slot belongs to (0: no slot held)


class Gate:
    """The shared view of one (token, method): see the module docstring. Thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._cond = threading.Condition()
        self.state = OPEN
        self.epoch = 0
        self.suspect = False  # one refusal seen in this epoch's predecessor; the next current one closes
        self.accepted_since_suspect = False  # a refusal with nothing accepted since the suspect one closes too
        self.closed_until = 0.0
        self.longest_until = 0.0  # the latest "come back at" of the refusals since the last acceptance
        self.window = 1
        self.period = 0
        self.in_flight = 0  # reopening slots taken in this period
        self.in_a_row = 0  # accepted in a row in this reopening period
        self.refusals = 0  # current-epoch refusals since the last acceptance
        self.refused_since: float | None = None

    # ----- before a call --------------------------------------------------------------------
    def enter(self, deadline: float | None = None) -> Ticket:
        """Wait until a call may go out; ``GaveUp`` if that would be too long (past ``deadline``, on this
        gate's clock, or longer than ``MAX_WAIT``) or is hopeless."""
        with self._cond:
            while True:
                now = self._clock()
                if self.state == CLOSED:
                    wait = self.closed_until - now
                    if wait > 0:
                        if wait > MAX_WAIT or self._hopeless(now) or (deadline is not None and now + wait > deadline):
                            raise GaveUp(wait)
                        self._cond.wait(wait)
                        continue
                    self.state, self.window, self.in_flight, self.in_a_row = REOPENING, 1, 0, 0
                    self.period += 1
                if self.state == REOPENING:
                    if self.in_flight >= self.window:
                        if deadline is not None and now >= deadline:
                            raise GaveUp(0)
                        self._cond.wait(1.0 if deadline is None else max(0.01, min(1.0, deadline - now)))
                        continue
                    self.in_flight += 1
                    return Ticket(self.epoch, self.period)
                return Ticket(self.epoch, 0)

    # ----- after a call ---------------------------------------------------------------------
    def accepted(self, ticket: Ticket, seconds: float) -> None:
        """Slack answered without a 429 (whatever the answer): it processed the call."""
        with self._cond:
            self._release(ticket)
            self.refusals, self.refused_since, self.longest_until = 0, None, 0.0
            self.accepted_since_suspect = True
            if ticket.epoch == self.epoch:
                self.suspect = False
            if self.state == REOPENING and ticket.period == self.period:
                self.in_a_row += 1
                if seconds >= SLOW_ANSWER:
                    self.window = min(MAX_WINDOW, self.window * 2)
                if self.in_a_row >= REOPEN_AFTER:
                    self.state = OPEN
            self._cond.notify_all()

    def refused(self, ticket: Ticket, retry_after: float) -> None:
        """Slack answered 429: it did nothing, and asked us to come back in ``retry_after`` seconds."""
        with self._cond:
            now = self._clock()
            self._release(ticket)
            self.longest_until = max(self.longest_until, now + retry_after)
            current = ticket.epoch == self.epoch
            if current:
                self.refusals += 1
                if self.refused_since is None:
                    self.refused_since = now
            if self._hopeless(now):
                self._close()  # refusing everything: callers give up until the Retry-After, then one probes
            elif self.state == CLOSED:
                # A call that was already in flight: its Retry-After may be longer; never shorten.
                self.closed_until = max(self.closed_until, now + retry_after)
            elif self.state == REOPENING and not current:
                self._close()  # a late answer to a call sent before the closure: it still asks us to wait
            elif self.suspect and not self.accepted_since_suspect:
                self._close()  # refused twice with nothing taken in between (threads refused all at once)
            elif current:
                noise = self.state == OPEN or self.in_a_row >= PROBE_AFTER
                if noise and not self.suspect:
                    self.suspect, self.accepted_since_suspect, self.in_a_row = True, False, 0
                    self.epoch += 1
                else:
                    self._close()
            self._cond.notify_all()

    def finished(self, ticket: Ticket) -> None:
        """No answer from Slack (a connection error, a 5xx): nothing learnt, the slot is free."""
        with self._cond:
            self._release(ticket)
            self._cond.notify_all()

    # ----- inside -----------------------------------------------------------------------------
    def _close(self) -> None:
        self.state, self.suspect = CLOSED, False
        self.closed_until = max(self.closed_until, self.longest_until)
        self.epoch += 1

    def _release(self, ticket: Ticket) -> None:
        if ticket.period and ticket.period == self.period and self.in_flight > 0:
            self.in_flight -= 1

    def _hopeless(self, now: float) -> bool:
        """Refused ``GIVE_UP`` times, or for longer than ``MAX_WAIT`` in all by the time we could try again,
        with nothing accepted: a workspace refusing everything, not a window to wait out."""
        return self.refusals >= GIVE_UP or (self.refusals >= 2 and self.refused_since is not None
                                            and max(now, self.longest_until) - self.refused_since > MAX_WAIT)
