"""Rendered lookup answers are cached: repeats are served from memory, never stale, never unbounded."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.config import load_settings
from bot.content.corpus import Corpus, load_corpus
from bot.handlers.commands import lookup_message
from bot.search.lookup import RenderedCache
from bot.services import Services
from conftest import CONTENT_DIR


def services_for(corpus: Corpus, cache: RenderedCache | None = None) -> Services:
    services = Services(settings=load_settings({}), store=None, corpus=corpus)  # type: ignore[arg-type]
    if cache is not None:
        services.rendered = cache
    return services


def test_a_repeated_query_is_served_from_the_cache(corpus: Corpus) -> None:
    services = services_for(corpus)
    first = lookup_message(services, "neglect")
    assert services.rendered.misses == 1 and services.rendered.hits == 0
    again = lookup_message(services, "neglect")
    assert again == first and services.rendered.hits == 1
    assert lookup_message(services, "neglect", offset=5) != first  # each page is its own answer
    random_1 = lookup_message(services, "random")
    assert len(services.rendered) == 2 and random_1  # a random point is never cached


def test_changed_content_is_never_answered_from_the_old_cache(tmp_path: Path, corpus: Corpus) -> None:
    shared = RenderedCache()
    before = lookup_message(services_for(corpus, shared), "sudi")
    content = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, content)
    health = content / "points" / "health-2011-14.yaml"
    old_title = corpus.by_id["h14-sudi"].title
    health.write_text(health.read_text().replace(old_title, "Safer sleep advice reaches families through every contact"))
    edited = load_corpus(content)
    assert edited.version != corpus.version
    after = lookup_message(services_for(edited, shared), "sudi")
    assert "Safer sleep advice reaches families through every contact" in str(after)
    assert old_title not in str(after) and old_title in str(before)


def test_the_cache_is_bounded_and_keeps_the_most_recent() -> None:
    cache = RenderedCache(max_size=3)
    for i in range(5):
        cache.put(i, {"n": i})
    assert len(cache) == 3
    assert cache.get(0) is None and cache.get(1) is None
    assert cache.get(2) == {"n": 2}
    cache.put(5, {"n": 5})  # 2 was used most recently, so 3 goes
    assert cache.get(3) is None and cache.get(2) == {"n": 2}
