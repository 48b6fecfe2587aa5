"""The learning point of the week: schedules, rotation, the exactly-once post and the thread summary.

Owns: schedules from YAML and subscriptions (``schedules``), which point comes next (``rotation``), the
weekly post (``poster``) and its summary (``summary``), and their neutral views (``views``).
May import: the rest of the core (``bot.learning`` for the summary's knowledge-check totals,
``bot.reflections``, ``bot.content``, ``bot.storage``, ``bot.once``) and reaches a chat platform only
through the delivery port (``bot.delivery``).
"""
