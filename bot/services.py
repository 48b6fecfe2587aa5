"""What every front end needs from the core, built once at start-up and shared: settings, content,
search, schedules and storage (and the stores built on it). It knows no chat platform: a front end adds
its own parts (Slack's installation store: ``bot.slack.installations.installation_store``)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import redis

from bot.briefings.sessions import SessionStore
from bot.config import Settings
from bot.content import yamlfile
from bot.content.corpus import Corpus, load_corpus
from bot.learning.quiz import QuizStore
from bot.reflections import gazetteer
from bot.reflections.store import ReflectionStore
from bot.search.lookup import Lookup, RenderedCache
from bot.storage.store import Store, Workspace
from bot.storage.wssettings import WorkspaceSettings
from bot.weekly.schedules import Schedule, Subscriptions, load_yaml_schedules

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    store: Store
    corpus: Corpus
    yaml_schedules: list[Schedule] = field(default_factory=list)
    reflections_enabled: bool = True
    rendered: RenderedCache = field(default_factory=lambda: RenderedCache(max_size=512))  # lookup answers
    _lookup: Lookup | None = field(default=None, init=False, repr=False)
    _lookup_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def lookup(self) -> Lookup:
        """Search, built on first use: the clock and most CLI commands never search, and building the indexes is
        about half a second of CPU (unless the cache folder keeps them: bot.search.indexcache). The front ends ask
        for it while they start (``handlers.commands.register``, ``handlers.teams.app.build``), so no user's first
        lookup waits for it."""
        if self._lookup is None:
            with self._lookup_lock:
                if self._lookup is None:
                    self._lookup = Lookup(self.corpus, cache_dir=self.settings.cache_dir)
        return self._lookup

    @classmethod
    def create(cls, settings: Settings, store: Store | None = None) -> Services:
        """Load and validate content and schedules (raises ``ProblemsError`` naming file and line)."""
        gazetteer.use_cache(settings.cache_dir)
        yamlfile.use_cache(settings.cache_dir)
        corpus = load_corpus(settings.content_dir)
        schedules = load_yaml_schedules(settings.schedules_dir, corpus, settings.timezone, None)
        return cls(
            settings=settings,
            store=store or Store(settings),
            corpus=corpus,
            yaml_schedules=schedules,
        )

    def concern_contact(self, ws: Workspace | None = None) -> str | None:
        """Who to contact about a child, shown under the safety net's steps: the workspace's own line
        (``/scr settings contact``), else SCR_CONCERN_CONTACT. Storage down: the environment's line, since
        the safety net must still answer."""
        if ws is None:
            return self.settings.concern_contact
        try:
            return self.workspace_settings.contact(ws)
        except redis.RedisError as exc:
            log.warning("contact line for %s: storage unavailable (%s); using SCR_CONCERN_CONTACT", ws.team_id, exc)
            return self.settings.concern_contact

    @property
    def workspace_settings(self) -> WorkspaceSettings:
        """Each workspace's ``/scr settings`` over the environment's defaults."""
        return WorkspaceSettings(self.store.client, self.settings)

    @property
    def subscriptions(self) -> Subscriptions:
        return Subscriptions(self.store.client)

    @property
    def reflections(self) -> ReflectionStore:
        return ReflectionStore(self.store.client, self.settings.retention_days)

    @property
    def sessions(self) -> SessionStore:
        """Briefing sessions: attendance and agreed actions (bot.briefings.sessions)."""
        return SessionStore(self.store.client, self.settings.retention_days)

    @property
    def quiz(self) -> QuizStore:
        return QuizStore(self.store.client, self.settings.retention_days, timezone=self.settings.timezone)

    def yaml_schedule_for(self, team: str, channel: str) -> Schedule | None:
        for s in self.yaml_schedules:
            if s.channel == channel and s.team in ("", team):
                return s.in_team(team)
        return None

    def schedule_for(self, team: str, enterprise: str | None, channel: str) -> Schedule | None:
        return self.yaml_schedule_for(team, channel) or self.subscriptions.get(Workspace(team, enterprise), channel)

    def all_schedules(self, default_team: str) -> list[Schedule]:
        """Every enabled schedule: the admin's YAML ones and the channels' own subscriptions."""
        # With no workspace of its own (not yet known, or distributed), team-less admin schedules wait.
        yaml = [s.in_team(default_team) for s in self.yaml_schedules if s.enabled and (s.team or default_team)]
        taken = {(s.team, s.channel) for s in yaml}
        return yaml + [s for s in self.subscriptions.all() if (s.team, s.channel) not in taken and s.enabled]
