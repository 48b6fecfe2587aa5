"""Learning that sticks, and evidence of it: knowledge checks, the learning lead's digest, a person's CPD record.

Owns: opt-ins, Leitner boxes, answers and team aggregates (``quiz``), sending checks by DM (``quiz_sender``),
the digest and report (``digest``), sending it with its chart (``digest_sender``, ``chart``), a person's
reflective-practice record (``cpd``), and the check's neutral view (``views``).
May import: ``bot.reflections``, ``bot.content``, ``bot.storage``, ``bot.once``, and the delivery port.
"""
