"""Looking learning up: understanding what someone typed after ``/scr`` and answering with ranked points.

Owns: query parsing (``query``), the ranked index (``index``) and the ``Answer`` a lookup gives (``lookup``),
which each front end renders its own way (Block Kit, terminal text, JSON).
May import: ``bot.content``. Needs no storage: a lookup answers with Redis down.
"""
