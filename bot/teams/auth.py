"""Who may call us, and how we call out: the Bot Connector's tokens checked, the app's own tokens fetched.

Incoming: every activity carries ``Authorization: Bearer <JWT>`` signed by the Bot Connector. We check the
signature against the keys the OpenID metadata document lists (cached, refetched when a token names a key we
have not seen, at most once a minute), the issuer, the audience (our app id), expiry and not-before (five
minutes of clock skew, as Microsoft allows), that the signing key is endorsed for the activity's channel,
and that the token's ``serviceUrl`` claim is the activity's: a token for one service URL cannot make us send
another's way. Anything else is a ``Refused`` with a reason and no token text.

Outgoing: a token from the Entra ID token endpoint with the app's client credentials, cached until shortly
before it expires, per scope (the Bot Connector's, Graph's).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

ISSUER = "https://api.botframework.com"
CONNECTOR_SCOPE = "https://api.botframework.com/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
LEEWAY_SECONDS = 300  # clock skew Microsoft's own validators allow
KEYS_REFRESH_SECONDS = 24 * 3600  # signing keys are re-read daily (Microsoft rolls them)
KEYS_MISS_SECONDS = 60  # a token naming an unknown key refetches the keys at most this often
HTTP_TIMEOUT = 5.0
ALGORITHMS = ["RS256"]


class Refused(Exception):
    """An activity whose token does not hold: answered 401, nothing of it read further or stored."""


@dataclass(frozen=True)
class Caller:
    """What a valid token says: the service URL the activity may be answered at."""

    service_url: str
    claims: dict[str, Any]


def _get_json(url: str, timeout: float = HTTP_TIMEOUT) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - configured https URLs
        return json.loads(resp.read())


class SigningKeys:
    """The Bot Connector's signing keys, from its OpenID metadata document's ``jwks_uri``."""

    def __init__(self, openid_url: str, clock: Callable[[], float] = time.monotonic):
        self.openid_url = openid_url
        self.clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[jwt.PyJWK, tuple[str, ...]]] = {}
        self._fetched_at: float | None = None

    def _fetch(self) -> None:
        meta = _get_json(self.openid_url)
        jwks = _get_json(str(meta["jwks_uri"]))
        found = {}
        for raw in jwks.get("keys", []):
            if raw.get("kid") and raw.get("kty") == "RSA":
                found[str(raw["kid"])] = (jwt.PyJWK(raw, algorithm="RS256"), tuple(raw.get("endorsements") or ()))
        self._keys = found
        self._fetched_at = self.clock()

    def get(self, kid: str) -> tuple[jwt.PyJWK, tuple[str, ...]] | None:
        with self._lock:
            age = None if self._fetched_at is None else self.clock() - self._fetched_at
            if age is None or age > KEYS_REFRESH_SECONDS or (kid not in self._keys and age > KEYS_MISS_SECONDS):
                try:
                    self._fetch()
                except (OSError, ValueError, KeyError, jwt.PyJWTError) as exc:
                    if not self._keys:
                        raise Refused(f"signing keys unavailable ({type(exc).__name__})") from None
            return self._keys.get(kid)


class TokenValidator:
    """Checks the bearer token on one incoming activity (see the module's docstring for what is checked)."""

    def __init__(self, app_id: str, keys: SigningKeys):
        self.app_id = app_id
        self.keys = keys

    def validate(self, authorization: str | None, activity: dict[str, Any]) -> Caller:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Refused("no bearer token")
        try:
            header = jwt.get_unverified_header(token.strip())
        except jwt.PyJWTError:
            raise Refused("malformed token") from None
        if header.get("alg") not in ALGORITHMS:
            raise Refused("unexpected signing algorithm")
        found = self.keys.get(str(header.get("kid") or ""))
        if found is None:
            raise Refused("signed with an unknown key")
        key, endorsements = found
        try:
            claims = jwt.decode(token.strip(), key=key.key, algorithms=ALGORITHMS, audience=self.app_id, issuer=ISSUER,
                                leeway=LEEWAY_SECONDS, options={"require": ["exp", "iss", "aud"]})  # fmt: skip
        except jwt.ExpiredSignatureError:
            raise Refused("token expired") from None
        except jwt.InvalidAudienceError:
            raise Refused("token for another app") from None
        except jwt.InvalidIssuerError:
            raise Refused("token from another issuer") from None
        except jwt.PyJWTError as exc:
            raise Refused(f"invalid token ({type(exc).__name__})") from None
        channel = str(activity.get("channelId") or "")
        if endorsements and channel not in endorsements:
            raise Refused("signing key not endorsed for this channel")
        service_url = str(activity.get("serviceUrl") or "")
        if not service_url or claims.get("serviceurl", claims.get("serviceUrl")) != service_url:
            raise Refused("serviceUrl does not match the token")
        return Caller(service_url, claims)


class Unavailable(Exception):
    """The token endpoint did not give us a token (down, or refused our credentials)."""

    def __init__(self, reason: str, permanent: bool = False):
        super().__init__(reason)
        self.permanent = permanent


class AppTokens:
    """The app's own access tokens (client credentials), one per scope, cached until a minute before expiry."""

    def __init__(self, login_url: str, tenant_id: str, app_id: str, password: str,
                 clock: Callable[[], float] = time.monotonic):  # fmt: skip
        self.endpoint = f"{login_url}/{urllib.parse.quote(tenant_id)}/oauth2/v2.0/token"
        self.app_id = app_id
        self._password = password
        self.clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}

    def __repr__(self) -> str:  # never the secret, never a token
        return f"AppTokens(app_id={self.app_id!r}, endpoint={self.endpoint!r})"

    def token(self, scope: str) -> str:
        with self._lock:
            cached = self._tokens.get(scope)
            if cached and cached[1] > self.clock():
                return cached[0]
            body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": self.app_id,
                                           "client_secret": self._password, "scope": scope}).encode()  # fmt: skip
            req = urllib.request.Request(self.endpoint, data=body, method="POST",
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
            try:
                with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as resp:  # noqa: S310
                    data = json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                raise Unavailable(f"token endpoint answered {exc.code}", permanent=exc.code in (400, 401)) from None
            except (OSError, ValueError) as exc:
                raise Unavailable(f"token endpoint unreachable ({type(exc).__name__})") from None
            token = str(data.get("access_token") or "")
            if not token:
                raise Unavailable("token endpoint gave no access_token")
            expires = float(data.get("expires_in") or 3600)
            self._tokens[scope] = (token, self.clock() + max(0.0, expires - 60))
            return token
