"""The Slack front end: everything that speaks Slack.

Owns: the Bolt app (``app``), the request gate and payload shapes (``gate``, ``shapes``), Block Kit views
(``blocks``, ``quiz_blocks``, ``reflect_blocks``), the App Home (``home``), OAuth and the installation
store (``oauth``, ``installations``), the Web API client and rate-limit gate (``client``, ``ratelimit``),
the delivery port's Slack side (``delivery``), Socket Mode and the web server (``socket_mode``, ``web``),
who a request came from (``context``), and the offline shell's local Web API (``localslack``).
May import: the core. Imported by: ``bot.handlers`` and ``bot.ops``; never by the core.
"""
