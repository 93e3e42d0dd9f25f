"""Signing in to the web console: cookie sessions, the role each page and action needs, and
the form token that keeps other sites from posting on a signed-in user's behalf.

Terms:

session
    A cookie (``syncline_session``, HttpOnly, SameSite=Strict) holding the user's name, an
    expiry time and a random nonce, signed with HMAC-SHA256 under a key made when the
    application starts (so sessions end when the server restarts). The user is looked up
    again on every request: a changed role applies at once, a removed user is signed out.
form token
    ``csrf``: an HMAC of the session's nonce, put into every form (and into htmx requests
    as the ``X-CSRF-Token`` header). A POST without the right token is refused with 403.
sign-in form token
    The sign-in form has one too, before anyone is signed in (so another site cannot sign a
    visitor in to an account of its choosing): ``GET /login`` sets the cookie
    ``syncline_login`` (a random nonce, HttpOnly, SameSite=Strict) and puts the HMAC of
    that nonce into the form; ``POST /login`` without both, or with a token that does not
    match the cookie, is refused with 403 and a fresh form.
secure cookies
    Both cookies are ``Secure`` when the request came over HTTPS: directly, or through a
    proxy that says so (``X-Forwarded-Proto``) and is trusted with
    ``syncline serve --forwarded-allow-ips``.
role check
    A page needs ``viewer``; actions need the role the REST API asks for the same thing
    (see :class:`~syncline.service.stores.Role`). Controls a role may not use are not
    rendered, and a POST to them anyway is refused with 403.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request, status

from syncline.api.context import ApiContext
from syncline.service.stores import Role, User

__all__ = [
    "COOKIE",
    "LOGIN_COOKIE",
    "LoginRequired",
    "SessionKeys",
    "WebSession",
    "admin",
    "is_https",
    "operator",
    "viewer",
]

COOKIE = "syncline_session"
LOGIN_COOKIE = "syncline_login"
LIFETIME_S = 12 * 3600
"""How long a session lasts without signing in again."""


class LoginRequired(Exception):
    """Raised by the page dependencies when nobody is signed in; answered with a redirect to
    the sign-in page (``next`` = the page asked for)."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


@dataclass(frozen=True)
class WebSession:
    """The signed-in user of one request and the form token of their session."""

    user: User
    csrf: str

    def can(self, role: Role | str) -> bool:
        """Whether the user's role allows what ``role`` may do."""
        return self.user.role.allows(Role(role))


class SessionKeys:
    """Makes and checks session cookies and form tokens (see the module docstring)."""

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key or secrets.token_bytes(32)

    def _sign(self, text: str) -> str:
        digest = hmac.new(self.key, text.encode("utf-8"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    def issue(self, name: str, now: float | None = None) -> str:
        """A cookie value for user ``name``."""
        body = {"u": name, "exp": int((now or time.time()) + LIFETIME_S),
                "n": secrets.token_urlsafe(16)}
        text = base64.urlsafe_b64encode(json.dumps(body).encode("utf-8")).decode("ascii")
        return f"{text}.{self._sign(text)}"

    def read(self, value: str | None, now: float | None = None) -> dict[str, Any] | None:
        """The session in a cookie value, or ``None`` when absent, forged or expired."""
        if not value or "." not in value:
            return None
        text, signature = value.rsplit(".", 1)
        if not hmac.compare_digest(signature, self._sign(text)):
            return None
        try:
            body = json.loads(base64.urlsafe_b64decode(text.encode("ascii")))
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(body, dict) or int(body.get("exp", 0)) < (now or time.time()):
            return None
        return body

    def csrf(self, session: dict[str, Any]) -> str:
        """The form token of a session."""
        return self._sign("csrf:" + str(session.get("n", "")))

    def login_nonce(self, request: Request) -> str:
        """The sign-in nonce of ``request``'s ``syncline_login`` cookie, or a new one."""
        found = request.cookies.get(LOGIN_COOKIE, "")
        return found if 16 <= len(found) <= 64 and found.isascii() else \
            secrets.token_urlsafe(24)

    def login_token(self, nonce: str) -> str:
        """The sign-in form token belonging to ``nonce``."""
        return self._sign("login:" + nonce)

    def login_token_ok(self, request: Request, given: str | None) -> bool:
        """Whether ``given`` (the form's ``csrf``) matches ``request``'s sign-in cookie."""
        nonce = request.cookies.get(LOGIN_COOKIE)
        return bool(nonce and given) and hmac.compare_digest(
            str(given), self.login_token(str(nonce)))


def is_https(request: Request) -> bool:
    """Whether ``request`` came over HTTPS (directly or through a trusted proxy)."""
    return request.url.scheme == "https"


def _keys(request: Request) -> SessionKeys:
    found = request.app.state.syncline_web_keys
    assert isinstance(found, SessionKeys)
    return found


def _context(request: Request) -> ApiContext:
    found = request.app.state.syncline
    assert isinstance(found, ApiContext)
    return found


def current_session(request: Request) -> WebSession | None:
    """The signed-in user of ``request``, or ``None``."""
    keys = _keys(request)
    body = keys.read(request.cookies.get(COOKIE))
    if body is None:
        return None
    user = _context(request).users.find(str(body.get("u", "")))
    if user is None:
        return None
    return WebSession(user, keys.csrf(body))


async def _check_token(request: Request, session: WebSession) -> None:
    given = request.headers.get("x-csrf-token")
    if given is None:
        form = await request.form()
        value = form.get("csrf")
        given = value if isinstance(value, str) else None
    if not given or not hmac.compare_digest(given, session.csrf):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            "the form token is missing or wrong: reload the page and try again")


def _requirement(role: Role) -> Callable[[Request], Awaitable[WebSession]]:
    async def check(request: Request) -> WebSession:
        session = current_session(request)
        if session is None:
            if request.method != "GET":
                raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sign in first")
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(target)
        if not session.user.role.allows(role):
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"user '{session.user.name}' ({session.user.role.value}) may "
                                f"not do this: it needs the {role.value} role")
        if request.method not in ("GET", "HEAD"):
            await _check_token(request, session)
        return session

    return check


viewer = _requirement(Role.VIEWER)
"""Dependency: a signed-in user (any role); POSTs also need the form token."""
operator = _requirement(Role.OPERATOR)
"""Dependency: a signed-in operator or admin (403 otherwise)."""
admin = _requirement(Role.ADMIN)
"""Dependency: a signed-in admin (403 otherwise)."""
