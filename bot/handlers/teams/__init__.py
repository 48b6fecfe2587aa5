"""Microsoft Teams listeners: what to do with each activity the Bot Connector sends (install, uninstall,
lookups in a personal chat or by @mention). They may import the Teams front end (``bot.teams``) and the
core, never Slack's front end or Slack's listeners."""
