"""Slack listeners grouped by kind, each module registering itself with ``register(app, services)``."""
