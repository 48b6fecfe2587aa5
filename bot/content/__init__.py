"""The learning content: briefings, themes, sectors, learning points and knowledge checks, loaded from YAML.

Owns: the corpus model and its loading with ``file:line`` errors (``corpus``, ``yamlfile``), the briefings'
source texts (``sources``), the fidelity checks against them (``fidelity``), generated section terms
(``terms``) and what has changed since each briefing (``currency``).
May import: ``bot.config`` only. Knows no Redis and no chat platform.
"""
