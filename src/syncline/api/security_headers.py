"""Headers every answer of ``syncline serve`` carries, so a browser keeps the console safe
from other sites.

Terms:

content security policy
    ``Content-Security-Policy``: scripts, styles, images and connections only from the
    service itself, no inline script or style (the console keeps all of them in
    ``/static``), no plugins, forms posting only to the service, and no framing by any
    page (``frame-ancestors 'none'``). The interactive API docs (``/api/docs``, Swagger UI
    from a CDN with an inline start-up script) get only ``frame-ancestors 'none'``.
other headers
    ``X-Frame-Options: DENY`` (framing, for browsers without CSP),
    ``Referrer-Policy: same-origin`` (no address of the console is sent to another site),
    ``X-Content-Type-Options: nosniff``.

A header the application set itself is kept.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_SECURITY_POLICY", "SecurityHeaders"]

CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data:; connect-src 'self'; font-src 'self'; "
                           "object-src 'none'; base-uri 'none'; form-action 'self'; "
                           "frame-ancestors 'none'")
_DOCS_POLICY = "frame-ancestors 'none'"
_DOCS = ("/api/docs",)
_FIXED = {"X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
          "X-Content-Type-Options": "nosniff"}


class SecurityHeaders:
    """ASGI middleware adding the headers of the module docstring to every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        policy = _DOCS_POLICY if path.startswith(_DOCS) else CONTENT_SECURITY_POLICY

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in {"Content-Security-Policy": policy, **_FIXED}.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)
