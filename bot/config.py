"""Every setting the bot reads, from the environment, in one place.

Keeping configuration in one frozen object means the rest of the code never touches
``os.environ`` and tests can build a ``Settings`` for exactly the situation they need.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
# Microsoft Teams (the Bot Connector): where its signing keys are listed, where the app gets its own tokens, Graph.
DEFAULT_TEAMS_OPENID_URL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
DEFAULT_TEAMS_LOGIN_URL = "https://login.microsoftonline.com"
DEFAULT_TEAMS_GRAPH_URL = "https://graph.microsoft.com"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Seconds one Slack call may spend waiting and retrying in all (bot.slack.ratelimit). A claim's lease must
# outlast one whole call made right after the claim was extended, plus a third for Redis round trips and pauses.
CALL_BUDGET = 90.0
# Seconds one HTTP request to Slack may take (slack-sdk's default): Slack can act on a request at any moment until
# then, and a retry may start just before the budget runs out, so one call can last budget + timeout.
HTTP_TIMEOUT = 10.0


def lease_needed(call_budget: float, http_timeout: float = HTTP_TIMEOUT) -> float:
    """The shortest claim lease the exactly-once protocol (``bot.once``) is safe with: the longest one Slack call
    can last (its budget, then one more request started just before it ran out, answered at its timeout), plus a
    third for Redis round trips and pauses; whole seconds, as the lease is given."""
    return float(math.ceil((call_budget + http_timeout) * 4 / 3))


def _default_dir(name: str) -> Path:
    """``content/``, ``schedules/`` (and ``manifest.yml``) in the working directory (as the Procfile runs from the app's root),
    falling back to the checkout this package lives in (an editable install run from elsewhere)."""
    here = Path.cwd() / name
    if here.exists():
        return here
    return Path(__file__).resolve().parent.parent / name


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_days(text: str) -> frozenset[int]:
    """'mon-fri' or 'tue,wed,thu' -> weekday numbers (Monday 0)."""
    out: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        if lo[:3] not in WEEKDAYS or (hi and hi[:3] not in WEEKDAYS):
            raise ValueError(f"{part!r} is not a weekday or a range such as mon-fri")
        a = WEEKDAYS.index(lo[:3])
        b = WEEKDAYS.index(hi[:3]) if hi else a
        out.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    if not out:
        raise ValueError("no days given")
    return frozenset(out)


def parse_hours(text: str) -> tuple[time, time]:
    """'09:00-17:00' -> (09:00, 17:00)."""
    try:
        lo, hi = (time.fromisoformat(t.strip().rjust(5, "0")) for t in text.split("-"))
    except ValueError:
        raise ValueError(f"{text!r} should look like 09:00-17:00") from None
    if lo >= hi:
        raise ValueError(f"{text!r}: the end must be after the start")
    return lo, hi


# `/scr settings bank-holidays ...` and SCR_BANK_HOLIDAYS: the UK's bank holidays differ by nation. The codes
# are the `holidays` package's subdivisions of GB (ISO 3166-2:GB): England and Wales share one calendar.
BANK_HOLIDAY_REGIONS = {"england-and-wales": "ENG", "scotland": "SCT", "northern-ireland": "NIR", "none": None}


@lru_cache(maxsize=64)
def _bank_holidays(region: str, year: int) -> frozenset[date]:
    """One region's bank holidays in a year, from the maintained ``holidays`` package (not a hand list that would
    go stale: substitute days and one-off holidays such as a coronation are in it). Loaded only when asked."""
    subdiv = BANK_HOLIDAY_REGIONS.get(region)
    if subdiv is None:
        return frozenset()
    import holidays

    return frozenset(holidays.country_holidays("GB", subdiv=subdiv, years=year))


def is_bank_holiday(region: str, day: date) -> bool:
    """Whether ``day`` is a bank holiday in ``region`` (a key of ``BANK_HOLIDAY_REGIONS``)."""
    return day in _bank_holidays(region, day.year)


@dataclass(frozen=True)
class WorkingHours:
    """When a check may be sent: quiz days within working days, from ``send_from`` until working hours end."""

    timezone: str = "Europe/London"
    start: time = time(9, 0)
    end: time = time(17, 0)
    days: frozenset[int] = frozenset(range(5))
    quiz_days: frozenset[int] = frozenset({1, 2, 3})  # mid-week: Tuesday to Thursday
    send_from: time = time(10, 30)
    bank_holidays: str = "england-and-wales"  # a key of BANK_HOLIDAY_REGIONS

    def may_send(self, now: datetime) -> bool:
        """A quiz day that is a working day and no bank holiday, from the quiz time until working hours end,
        all in ``timezone`` (a person's own zone when the clock knows it)."""
        local = now.astimezone(ZoneInfo(self.timezone))
        if local.weekday() not in self.days or local.weekday() not in self.quiz_days:
            return False
        if not max(self.start, self.send_from) <= local.time() < self.end:
            return False
        return not self.bank_holiday(local.date())

    def bank_holiday(self, day: date) -> bool:
        return is_bank_holiday(self.bank_holidays, day)

    def working_day(self, day: date) -> bool:
        """A working day that is no bank holiday (where a moved weekly post lands)."""
        return day.weekday() in self.days and not self.bank_holiday(day)

    def day(self, now: datetime) -> str:
        return now.astimezone(ZoneInfo(self.timezone)).date().isoformat()

    def week(self, now: datetime) -> str:
        iso = now.astimezone(ZoneInfo(self.timezone)).date().isocalendar()
        return f"{iso.year}-W{iso.week:02d}"


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_client_id: str | None = None
    slack_client_secret: str | None = None
    oauth_redirect_uri: str | None = None
    token_rotation_minutes: int = 120
    manifest_path: Path = field(default_factory=lambda: _default_dir("manifest.yml"))
    slack_api_url: str = DEFAULT_SLACK_API_URL
    redis_url: str | None = None
    redis_cluster: bool = False
    # More start-up nodes for a Redis Cluster (host:port), tried when the one in REDIS_URL is down.
    redis_cluster_nodes: tuple[str, ...] = ()
    redis_max_connections: int = 64
    fanout_workspaces: int = 32
    port: int = 3000
    content_dir: Path = field(default_factory=lambda: _default_dir("content"))
    schedules_dir: Path = field(default_factory=lambda: _default_dir("schedules"))
    # The briefings' extracted texts, for `scr-bot content check` to prove fidelity; unset = not checked.
    sources_dir: Path | None = None
    timezone: str = "Europe/London"
    data_dir: Path = field(default_factory=lambda: Path("var"))
    # Data derived from installed libraries and the content, kept between runs (SCR_CACHE_DIR): the masking's name
    # lists, read from Faker in a child process (~0.6 s of CPU at every start otherwise), the search indexes
    # (bot.search.indexcache, ~0.15 s) and the data read from content and schedule YAML files (bot.content.yamlfile,
    # ~0.06 s). Nothing personal; safe to delete.
    cache_dir: Path = field(default_factory=lambda: _user_cache_dir())
    retention_days: int = 365
    web_concurrency: int = 2
    log_level: str = "INFO"
    log_format: str = "text"  # SCR_LOG_FORMAT: text (one readable line) or json (one JSON object a line)
    # The Prometheus endpoint (bot.metrics): its own port, off (0) unless set, on loopback unless told otherwise,
    # and a bearer token when set. Off the Slack port, so the public URL Slack calls never serves it.
    metrics_port: int = 0
    metrics_bind: str = "127.0.0.1"
    metrics_token: str | None = None
    # How long a process may hold a week's post (SCR_CLAIM_LEASE_SECONDS, at least lease_needed(call budget)).
    claim_lease_seconds: float = 300
    # After a post whose answer was lost, how long to wait before asking Slack whether it landed
    # (SCR_CLAIM_SETTLE_MS): Slack's history can lag its answer; the local Slack's does not.
    claim_settle_seconds: float = 1.0
    call_budget_seconds: float = CALL_BUDGET  # SCR_CALL_BUDGET_MS: tests with short leases shorten it too
    # One HTTP request to Slack or the Bot Connector may take this long (SCR_HTTP_TIMEOUT_S). It is part of the
    # lease rule (``lease_needed``): a shorter timeout allows shorter leases and a sooner hand-over to the clock.
    http_timeout_seconds: float = HTTP_TIMEOUT
    # How long a shared reflection is left to the web process that saved it before the clock posts it
    # (SCR_PENDING_GRACE_S, at least lease_needed(call budget)): the work queued after the ack is lost if that
    # process is killed, and the intent written before the ack lets the clock finish it, once.
    pending_grace_seconds: float = 300
    sweep_minutes: int = 10
    redis_timeout_ms: int = 500  # per Redis round trip; Slack's 3 s budget allows one, not several
    redis_breaker_seconds: int = 5  # after a Redis failure, fail fast this long before trying again
    work_hours: str = "09:00-17:00"
    work_days: str = "mon-fri"
    quiz_days: str = "tue-thu"
    quiz_time: str = "10:30"
    bank_holidays: str = "england-and-wales"  # SCR_BANK_HOLIDAYS: a key of BANK_HOLIDAY_REGIONS
    # Slack user ids. Both grant rights in every workspace the bot answers, so they apply only to a
    # single-workspace install (``env_digest_users`` / ``env_admins``): never in distributed mode, where
    # the workspaces are other organisations'.
    digest_users: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()
    # The line under the safety net's steps saying who to contact about a child (e.g. the DSL's name and number).
    concern_contact: str | None = None
    # Encryption at rest (bot.storage.crypto): the master key (URL-safe base64 of 32 bytes) and, during a
    # rotation, the previous one (only read). Unset offline/embedded: a key file in data_dir is made.
    master_key: str | None = field(default=None, repr=False)
    master_key_old: str | None = field(default=None, repr=False)
    # Microsoft Teams (bot.teams): the Azure Bot's app id and client secret, and the tenant it is registered in
    # (single-tenant). All three, or none. The three URLs are Microsoft's own unless a test points them elsewhere.
    teams_app_id: str | None = None
    teams_app_password: str | None = None
    teams_tenant_id: str | None = None
    teams_openid_url: str = DEFAULT_TEAMS_OPENID_URL
    teams_login_url: str = DEFAULT_TEAMS_LOGIN_URL
    teams_graph_url: str = DEFAULT_TEAMS_GRAPH_URL
    # What `scr-bot teams package` writes into the app's manifest: the bot's public https address (its host is
    # the manifest's valid domain), the publisher shown in Teams' app store, and the privacy and terms pages
    # (default: the public address; point them at your organisation's notices).
    # Also where the links the bot sends in Teams point (a CPD export's download, a digest's chart image).
    teams_public_url: str | None = None
    teams_publisher: str = "SCR Learning"
    teams_privacy_url: str | None = None
    teams_terms_url: str | None = None

    @property
    def teams(self) -> bool:
        """Whether ``scr-bot run`` also serves Microsoft Teams at /api/messages (all three settings set)."""
        return bool(self.teams_app_id and self.teams_app_password and self.teams_tenant_id)

    def working_hours(self) -> WorkingHours:
        """The team's working hours and quiz days (validated in ``load_settings``)."""
        start, end = parse_hours(self.work_hours)
        return WorkingHours(timezone=self.timezone, start=start, end=end, days=parse_days(self.work_days),
                            quiz_days=parse_days(self.quiz_days), send_from=time.fromisoformat(self.quiz_time.rjust(5, "0")),
                            bank_holidays=self.bank_holidays)  # fmt: skip

    @property
    def mode(self) -> str:
        """Which way ``scr-bot run`` talks to Slack: oauth (HTTP, many workspaces), socket, http, or (no Slack
        settings) teams (HTTP for Microsoft Teams alone) or the offline shell."""
        if self.distributed:
            return "oauth"
        if self.slack_bot_token and self.slack_app_token:
            return "socket"
        if self.slack_bot_token and self.slack_signing_secret:
            return "http"
        if self.teams:
            return "teams"  # no Slack settings at all: HTTP for Microsoft Teams alone
        return "shell"

    @property
    def env_digest_users(self) -> tuple[str, ...]:
        """``SCR_DIGEST_USERS`` as granted: nobody in distributed mode (the env would reach every workspace)."""
        return () if self.distributed else self.digest_users

    @property
    def env_admins(self) -> tuple[str, ...]:
        """``SCR_ADMINS`` as granted: nobody in distributed mode (the env would reach every workspace)."""
        return () if self.distributed else self.admins

    @property
    def distributed(self) -> bool:
        """Installed by many workspaces through "Add to Slack": tokens come from the installation store."""
        return bool(self.slack_client_id and self.slack_client_secret and self.slack_signing_secret)


TEAMS_SETTINGS = ("TEAMS_APP_ID", "TEAMS_APP_PASSWORD", "TEAMS_TENANT_ID")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_GUID_WHERE = {"TEAMS_APP_ID": "the Azure Bot's Microsoft App ID (Azure Bot > Configuration)",
               "TEAMS_TENANT_ID": "the Directory (tenant) ID (Microsoft Entra ID > Overview)"}  # fmt: skip
PUBLISHER_MAX = 32  # the manifest schema's limit on developer.name


def _teams(env: Mapping[str, str]) -> dict[str, str | None]:
    """The three Teams settings, all or none: a half-set one is a one-line error naming what is missing. The
    app and tenant ids are GUIDs: anything else would only show up later as every activity refused."""
    values = {name: (env.get(name, "").strip() or None) for name in TEAMS_SETTINGS}
    given = [n for n, v in values.items() if v]
    if given and len(given) < len(TEAMS_SETTINGS):
        missing = ", ".join(n for n in TEAMS_SETTINGS if not values[n])
        raise ConfigError(f"Microsoft Teams needs TEAMS_APP_ID, TEAMS_APP_PASSWORD and TEAMS_TENANT_ID together: "
                          f"{', '.join(given)} set but {missing} not (Azure Bot > Configuration)")  # fmt: skip
    for name, where in _GUID_WHERE.items():
        value = values[name]
        if value and not _GUID.match(value):
            raise ConfigError(f"{name} must be {where}, a GUID such as 00000000-0000-0000-0000-000000000000, "
                              f"got {value!r}")  # fmt: skip
    urls = {}
    for name, default in (("TEAMS_OPENID_URL", DEFAULT_TEAMS_OPENID_URL), ("TEAMS_LOGIN_URL", DEFAULT_TEAMS_LOGIN_URL),
                          ("TEAMS_GRAPH_URL", DEFAULT_TEAMS_GRAPH_URL)):  # fmt: skip
        raw = env.get(name, "").strip() or default
        if not raw.startswith(("https://", "http://")):
            raise ConfigError(f"{name} must be an http(s) URL such as {default}, got {raw!r}")
        urls[name.lower()] = raw.rstrip("/")
    public = _https_url(env, "TEAMS_PUBLIC_URL", "https://scr-bot.example.org")
    publisher = " ".join(env.get("TEAMS_PUBLISHER", "").split()) or Settings.teams_publisher
    if len(publisher) > PUBLISHER_MAX:
        raise ConfigError(f"TEAMS_PUBLISHER is {len(publisher)} characters; Teams allows at most {PUBLISHER_MAX}")
    return {"teams_app_id": values["TEAMS_APP_ID"], "teams_app_password": values["TEAMS_APP_PASSWORD"],
            "teams_tenant_id": values["TEAMS_TENANT_ID"], **urls, "teams_public_url": public,
            "teams_publisher": publisher,
            "teams_privacy_url": _https_url(env, "TEAMS_PRIVACY_URL", "https://example.org/privacy") or public,
            "teams_terms_url": _https_url(env, "TEAMS_TERMS_URL", "https://example.org/terms") or public}  # fmt: skip


def _https_url(env: Mapping[str, str], name: str, example: str) -> str | None:
    """A public address Teams shows or links to: https only (Teams refuses plain http ones), without a trailing /.
    Plain http is let through for this machine's own addresses only (a bot tried out locally)."""
    from urllib.parse import urlsplit

    raw = env.get(name, "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    local = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
    if (parts.scheme != "https" and not local) or not parts.netloc:
        raise ConfigError(f"{name} must be an https URL such as {example}, got {raw!r}")
    return raw.rstrip("/")


class ConfigError(ValueError):
    """A setting has a value the bot cannot use; the message says which and why."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if maximum is not None and not minimum <= value <= maximum:
        raise ConfigError(f"{name} must be from {minimum} to {maximum}, got {value}")
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _redis_url(env: Mapping[str, str]) -> str | None:
    """``localhost:6379`` is a common slip; redis-py would fail later with a traceback."""
    raw = env.get("REDIS_URL", "").strip()
    if raw and "://" not in raw:
        raise ConfigError(
            f"REDIS_URL must be a URL such as redis://{raw if ':' in raw else raw + ':6379'}/0 "
            f"(or rediss:// for TLS, unix:///path/to/redis.sock), got {raw!r}"
        )
    return raw or None


def _token(env: Mapping[str, str], name: str) -> str | None:
    """A Slack credential as pasted: quotes or spaces inside it would only show up later as "invalid_auth"."""
    raw = env.get(name, "").strip()
    if any(c in raw for c in "\"'") or any(c.isspace() for c in raw):
        raise ConfigError(f"{name} contains quotes or spaces: paste the value alone, with nothing around it "
                          "(as Slack shows it)")
    return raw or None


def _check_token_kinds(bot_token: str | None, app_token: str | None) -> None:
    """The three token mix-ups Slack would only answer with a puzzling error (or, offline, not at all)."""
    if bot_token and app_token and bot_token.startswith("xapp-") and app_token.startswith("xoxb-"):
        raise ConfigError("SLACK_BOT_TOKEN and SLACK_APP_TOKEN are swapped: the xoxb-... token goes in "
                          "SLACK_BOT_TOKEN, the xapp-... one in SLACK_APP_TOKEN")
    if bot_token and bot_token.startswith("xoxp-"):
        raise ConfigError("SLACK_BOT_TOKEN is a user token (xoxp-...): copy the Bot User OAuth Token (xoxb-...) "
                          "from OAuth & Permissions instead")
    if bot_token and bot_token.startswith("xapp-"):
        raise ConfigError("SLACK_BOT_TOKEN is an app-level token (xapp-...), which belongs in SLACK_APP_TOKEN: "
                          "copy the Bot User OAuth Token (xoxb-...) from OAuth & Permissions into SLACK_BOT_TOKEN")
    if app_token and app_token.startswith(("xoxb-", "xoxp-")):
        raise ConfigError(f"SLACK_APP_TOKEN is a {'bot' if app_token.startswith('xoxb-') else 'user'} token "
                          f"({app_token[:5]}...), but Socket Mode needs an app-level token (xapp-...): "
                          "create one under Basic Information > App-Level Tokens")


def _api_url(env: Mapping[str, str]) -> str:
    """``htps://`` or a bare host would fail deep inside the HTTP client with a long traceback."""
    from urllib.parse import urlsplit

    raw = env.get("SLACK_API_URL", "").strip() or DEFAULT_SLACK_API_URL
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"SLACK_API_URL must be an http(s) URL such as {DEFAULT_SLACK_API_URL}, got {raw!r} "
                          "(or unset it to use Slack itself)")
    return raw if raw.endswith("/") else raw + "/"


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    raw = env.get(name, "").strip()
    value = (raw or default).lower()
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return value


def _log_level(env: Mapping[str, str], default: str) -> str:
    raw = env.get("SCR_LOG_LEVEL", "").strip()
    level = (raw or default).upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"SCR_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return level


def _lease(env: Mapping[str, str], default: float) -> tuple[float, float, float]:
    """The weekly claim's lease, one Slack call's budget and one request's timeout. The lease must outlast a whole
    call made right after the claim was extended (``lease_needed``), or a second process could post the same week
    again."""
    lease = float(_int(env, "SCR_CLAIM_LEASE_SECONDS", int(default), minimum=1))
    budget = _int(env, "SCR_CALL_BUDGET_MS", int(CALL_BUDGET * 1000), minimum=1) / 1000
    timeout = float(_int(env, "SCR_HTTP_TIMEOUT_S", int(HTTP_TIMEOUT), minimum=1, maximum=120))
    least = lease_needed(budget, timeout)
    if lease < least:
        raise ConfigError(f"SCR_CLAIM_LEASE_SECONDS={lease:g} is too short: a claim must outlast one Slack call's "
                          f"retry budget (CALL_BUDGET, {budget:g} s) and one more request's timeout ({timeout:g} s) "
                          f"with a {least - budget - timeout:g} s margin, or a second process could post the same "
                          f"week again; use at least {least:g}")
    return lease, budget, timeout


def _grace(env: Mapping[str, str], default: float, budget: float, timeout: float) -> float:
    """SCR_PENDING_GRACE_S: the web process's claim on posting a shared reflection lasts this long, so it must
    outlast its Slack calls as a weekly claim must (``lease_needed``), or the clock could post it a second time."""
    grace = float(_int(env, "SCR_PENDING_GRACE_S", int(default), minimum=1))
    least = lease_needed(budget, timeout)
    if grace < least:
        raise ConfigError(f"SCR_PENDING_GRACE_S={grace:g} is too short: the post of a shared reflection must be able "
                          f"to finish its Slack calls (CALL_BUDGET, {budget:g} s, and one more request's timeout, "
                          f"{timeout:g} s) before the clock takes it over; "
                          f"use at least {least:g}")
    return grace


def _check_quiz_days(settings: Settings) -> None:
    """Quiz days or a quiz time outside working hours would mean no knowledge check is ever sent."""
    hours = settings.working_hours()
    outside = sorted(hours.quiz_days - hours.days)
    if outside:
        names = ", ".join(WEEKDAYS[d] for d in outside)
        raise ConfigError(f"SCR_QUIZ_DAYS={settings.quiz_days} includes {names}, outside SCR_WORK_DAYS="
                          f"{settings.work_days}: knowledge checks are only sent on working days, so choose "
                          "quiz days within them")
    if hours.send_from >= hours.end:
        raise ConfigError(f"SCR_QUIZ_TIME={settings.quiz_time} is not before the end of SCR_WORK_HOURS="
                          f"{settings.work_hours}, so no knowledge check would ever be sent: choose an earlier time")


def _cluster_nodes(env: Mapping[str, str]) -> tuple[str, ...]:
    """``REDIS_CLUSTER_NODES=host:port,host:port``: the other nodes a new process may discover the cluster from."""
    nodes = tuple(n.strip() for n in env.get("REDIS_CLUSTER_NODES", "").split(",") if n.strip())
    for node in nodes:
        host, _, port = node.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"REDIS_CLUSTER_NODES should list host:port entries such as 10.0.0.2:6379, got {node!r}")
    return nodes


def _existing_dir(env: Mapping[str, str], name: str, default: Path, hint: str) -> Path:
    """A folder the operator named must exist: a typo would otherwise look like an empty folder."""
    path = _path(env, name, default)
    if env.get(name, "").strip() and not path.is_dir():
        raise ConfigError(f"{name}={str(path)!r} is not a folder: {hint}")
    return path


def _user_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/scr-bot``, else ``~/.cache/scr-bot`` (the XDG base directory convention)."""
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME", "").strip()
    return (Path(base) if base else Path("~/.cache").expanduser()) / "scr-bot"


def _path(env: Mapping[str, str], name: str, default: Path) -> Path:
    raw = env.get(name, "").strip()
    return Path(raw).expanduser() if raw else default


def parse_master_key(name: str, raw: str) -> bytes:
    """A master key as ``scr-bot keys new`` prints it: URL-safe base64 of exactly 32 random bytes (AES-256).
    The error never repeats the value: it is a secret."""
    import base64
    import binascii

    try:
        key = base64.urlsafe_b64decode(raw.strip().encode())
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise ConfigError(f"{name} is not a master key (URL-safe base64 of 32 bytes, 44 characters): "
                          "make one with `scr-bot keys new`")
    return key


def _master_key(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name, "").strip()
    if raw:
        parse_master_key(name, raw)
    return raw or None


def _user_ids(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A comma- or space-separated list of Slack user ids; anything else is a mistake worth stopping for."""
    users = tuple(u.strip() for u in env.get(name, "").replace(" ", ",").split(",") if u.strip())
    for user in users:
        if user[:1] not in ("U", "W") or not user.isalnum():
            raise ConfigError(f"{name} should list Slack user ids such as U012ABCDEF, got {user!r}")
    return users


def _bank_holiday_region(env: Mapping[str, str], default: str) -> str:
    raw = env.get("SCR_BANK_HOLIDAYS", "").strip().lower()
    if raw and raw not in BANK_HOLIDAY_REGIONS:
        raise ConfigError(f"SCR_BANK_HOLIDAYS must be one of {', '.join(BANK_HOLIDAY_REGIONS)}, got {raw!r}")
    return raw or default


def load_settings(env: Mapping[str, str] | None = None, dotenv: bool = True) -> Settings:
    """Read settings from ``env`` (default: the process environment plus a ``.env`` file)."""
    if env is None:
        if dotenv:
            from dotenv import load_dotenv

            # Values already in the environment win over .env, as on Heroku.
            load_dotenv(Path.cwd() / ".env", override=False)
        env = os.environ
    defaults = Settings()
    timezone = env.get("SCR_TIMEZONE", "").strip() or defaults.timezone
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(timezone)
    except Exception:
        raise ConfigError(f"SCR_TIMEZONE={timezone!r} is not a known time zone (try Europe/London)") from None
    api_url = _api_url(env)
    bot_token, app_token = _token(env, "SLACK_BOT_TOKEN"), _token(env, "SLACK_APP_TOKEN")
    _check_token_kinds(bot_token, app_token)
    digest_users = _user_ids(env, "SCR_DIGEST_USERS")
    lease, budget, timeout = _lease(env, defaults.claim_lease_seconds)
    settings = Settings(
        slack_bot_token=bot_token,
        slack_signing_secret=_token(env, "SLACK_SIGNING_SECRET"),
        slack_app_token=app_token,
        slack_client_id=_token(env, "SLACK_CLIENT_ID"),
        slack_client_secret=_token(env, "SLACK_CLIENT_SECRET"),
        oauth_redirect_uri=env.get("SLACK_OAUTH_REDIRECT_URI", "").strip() or None,
        token_rotation_minutes=_int(env, "SLACK_TOKEN_ROTATION_MINUTES", defaults.token_rotation_minutes, minimum=1),
        manifest_path=_path(env, "SCR_MANIFEST", defaults.manifest_path),
        slack_api_url=api_url,
        redis_url=_redis_url(env),
        redis_cluster=_bool(env, "REDIS_CLUSTER", defaults.redis_cluster),
        redis_cluster_nodes=_cluster_nodes(env),
        redis_max_connections=_int(env, "REDIS_MAX_CONNECTIONS", defaults.redis_max_connections, minimum=4),
        fanout_workspaces=_int(env, "SCR_FANOUT_WORKSPACES", defaults.fanout_workspaces, minimum=1),
        port=_int(env, "PORT", defaults.port, minimum=1, maximum=65535),
        content_dir=_path(env, "SCR_CONTENT_DIR", defaults.content_dir),
        schedules_dir=_existing_dir(env, "SCR_SCHEDULES_DIR", defaults.schedules_dir,
                                    "create it (an empty folder means no admin schedules) or unset it"),
        sources_dir=Path(env["SCR_SOURCES_DIR"].strip()).expanduser() if env.get("SCR_SOURCES_DIR", "").strip() else None,
        timezone=timezone,
        data_dir=_path(env, "SCR_DATA_DIR", defaults.data_dir),
        cache_dir=_path(env, "SCR_CACHE_DIR", _user_cache_dir(env)),
        retention_days=_int(env, "SCR_RETENTION_DAYS", defaults.retention_days, minimum=1),
        web_concurrency=_int(env, "WEB_CONCURRENCY", defaults.web_concurrency, minimum=1),
        log_level=_log_level(env, defaults.log_level),
        log_format=_choice(env, "SCR_LOG_FORMAT", defaults.log_format, ("text", "json")),
        metrics_port=_int(env, "SCR_METRICS_PORT", defaults.metrics_port, minimum=0, maximum=65535),
        metrics_bind=env.get("SCR_METRICS_BIND", "").strip() or defaults.metrics_bind,
        metrics_token=env.get("SCR_METRICS_TOKEN", "").strip() or None,
        claim_lease_seconds=lease,
        claim_settle_seconds=_int(env, "SCR_CLAIM_SETTLE_MS", int(defaults.claim_settle_seconds * 1000), minimum=0) / 1000,
        call_budget_seconds=budget,
        http_timeout_seconds=timeout,
        pending_grace_seconds=_grace(env, defaults.pending_grace_seconds, budget, timeout),
        sweep_minutes=_int(env, "SCR_SWEEP_MINUTES", defaults.sweep_minutes, minimum=1),
        redis_timeout_ms=_int(env, "SCR_REDIS_TIMEOUT_MS", defaults.redis_timeout_ms, minimum=10),
        redis_breaker_seconds=_int(env, "SCR_REDIS_BREAKER_SECONDS", defaults.redis_breaker_seconds, minimum=0),
        work_hours=env.get("SCR_WORK_HOURS", "").strip() or defaults.work_hours,
        work_days=env.get("SCR_WORK_DAYS", "").strip() or defaults.work_days,
        quiz_days=env.get("SCR_QUIZ_DAYS", "").strip() or defaults.quiz_days,
        quiz_time=env.get("SCR_QUIZ_TIME", "").strip() or defaults.quiz_time,
        bank_holidays=_bank_holiday_region(env, defaults.bank_holidays),
        digest_users=digest_users,
        admins=_user_ids(env, "SCR_ADMINS"),
        concern_contact=" ".join(env.get("SCR_CONCERN_CONTACT", "").split())[:300] or None,
        master_key=_master_key(env, "SCR_MASTER_KEY"),
        master_key_old=_master_key(env, "SCR_MASTER_KEY_OLD"),
        **_teams(env),
    )
    try:
        settings.working_hours()
    except ValueError as exc:
        raise ConfigError(f"working hours (SCR_WORK_HOURS, SCR_WORK_DAYS, SCR_QUIZ_DAYS, SCR_QUIZ_TIME): {exc}") from None
    _check_quiz_days(settings)
    return settings
