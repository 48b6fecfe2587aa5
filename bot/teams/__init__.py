"""The Microsoft Teams front end: the Bot Framework's REST protocol spoken directly (PyJWT for the tokens
Teams signs, urllib for the Bot Connector and Graph), Adaptive Cards for the core's views, and the delivery
port's Teams side. It may import the core; the core never imports it, and it never imports Slack's front end.

Why not an SDK: the Teams SDK for Python (``microsoft-teams-apps`` 2.x) and the Microsoft 365 Agents SDK
(``microsoft-agents-*``) both install, but both are asyncio servers of their own (FastAPI/uvicorn, aiohttp)
with msal and a dozen more packages; scr-bot's web server is Flask under gunicorn and its clock is
synchronous. What we need of them (validate a JWT, four REST calls, cards as JSON) is smaller than the glue
an event loop beside Flask would take. PyJWT is the library both SDKs validate with.
"""
