"""Reflections: what practitioners wrote about a learning point, masked before it is kept.

Owns: the per-workspace reflection store and thread statistics (``store``), masking of identifying
details (``masking``, with the name lists in ``gazetteer`` and ``name_words``).
May import: ``bot.search`` (its tokeniser, for the summary's question matching), ``bot.content``,
``bot.storage``.
"""
