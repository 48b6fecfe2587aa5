"""What the handlers need, built once at start-up and shared (content, search, store)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings
from bot.content import Corpus, load_corpus
from bot.lookup import Lookup
from bot.store import Store


@dataclass
class Services:
    settings: Settings
    store: Store
    corpus: Corpus
    lookup: Lookup

    @classmethod
    def create(cls, settings: Settings, store: Store | None = None) -> Services:
        """Load and validate content (raises ``ProblemsError``), and prepare the store."""
        corpus = load_corpus(settings.content_dir)
        return cls(settings=settings, store=store or Store(settings), corpus=corpus, lookup=Lookup(corpus))
