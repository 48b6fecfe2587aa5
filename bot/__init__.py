"""scr-bot: learning from Serious Case Reviews, brought into a team's Slack week."""

__version__ = "0.1.0"
