"""Socket Mode with the same edge check as HTTP: a payload of the wrong shape never reaches Bolt.

Over HTTP ``bot.slack.gate`` refuses such a payload with a 400; over the WebSocket there is no status to
answer, so the envelope is acknowledged (Slack would otherwise deliver it again, to the same end) and
one line is logged. Either way the rules are ``bot.slack.shapes``'s, and no listener sees the payload.
"""

from __future__ import annotations

import logging

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.slack import shapes

log = logging.getLogger(__name__)


class CheckedSocketModeHandler(SocketModeHandler):
    """Bolt's built-in Socket Mode handler, with ``bot.slack.shapes`` checked before Bolt parses anything."""

    def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        payload = req.payload
        found = shapes.problem(payload) if isinstance(payload, dict) else "payload is not a JSON object"
        if found:
            log.warning("ignored a Socket Mode %s envelope: %s", req.type, found)
            client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        super().handle(client, req)
