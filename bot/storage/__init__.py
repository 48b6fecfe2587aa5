"""Where everything is kept: Redis, reached one way, with every key named in one place.

Owns: the connection and its circuit breaker (``store``, ``breaker``), the embedded Redis started when no
``REDIS_URL`` is set (``embedded_redis``), every key with its lifetime and clean-up, and key migrations
(``keys``), forgetting a workspace (``purge``), backing up and restoring every key (``backup``), and the workspace's admin list and audit trail of changes (``roles``).
May import: ``bot.config`` only.
"""
