"""7-minute briefings: a team leader's short, face-to-face briefing on one theme, built from the content.

Local safeguarding partnerships turn case-review learning into "7-minute briefings" run in team meetings in
seven short parts (background, why it matters, three parts of key information, things to note, what to do)
and record each use on an action plan. This package assembles one from the learning points of a theme
(``builder``) and renders the handout for rooms without screens (``handout``: Markdown and a one-page PDF).

Every figure and quotation in a briefing is a point's own text, already checked against its source by
``scr-bot content check`` (bot.content.fidelity), so the builder only selects and orders point fields and
never rewrites them; what it adds is framing (headings, prompts) and carries no figures.

It may import ``bot.content`` and ``bot.search``; it knows no chat platform (Slack renders it in
``bot.slack.blocks``, the terminal in ``bot.ops``).
"""
