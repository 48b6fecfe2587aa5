"""One ``Deliveries`` for every front end that is set up: each tenant's platform picks its way out.

The poster, the summary, checks and digests take one ``Deliveries`` (``bot.delivery``); a schedule's
workspace names its platform, so a Teams channel's post goes through Teams and a Slack channel's through
Slack. A platform that is not set up here answers ``Permanent("not_installed")`` (nothing is written).
"""

from __future__ import annotations

from bot.delivery import Deliveries, Delivery
from bot.once import Permanent
from bot.services import Services
from bot.storage.keys import Workspace


def by_platform(services: Services, slack: Deliveries | None) -> Deliveries:
    ways: dict[str, Deliveries] = {}
    if slack is not None:
        ways["slack"] = slack
    if services.settings.teams:
        from bot.teams import setup

        ways["teams"] = setup.deliveries(services)

    def deliveries(ws: Workspace) -> Delivery:
        way = ways.get(ws.platform)
        if way is None:
            raise Permanent("not_installed")
        return way(ws)

    return deliveries
