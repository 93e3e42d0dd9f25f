"""A small WebDAV client over :mod:`httpx`: PROPFIND, REPORT (sync-collection, multiget),
PUT and DELETE with preconditions, and the translation of HTTP failures into syncline's
errors.

Terms:

href
    A resource's path as the server names it in multistatus answers (``/alice/book/x.vcf``);
    :meth:`DavClient.url` turns one into an absolute URL.
precondition
    ``If-None-Match: *`` (create only when nothing is there) and ``If-Match: <etag>``
    (change only the version we read). A server that finds it false answers 412, which
    becomes :class:`PreconditionFailed`.

A request started after the run was asked to stop gets no more than the grace left as its
timeout (:meth:`~syncline.run_context.RunContext.timeout`).

Retries: every request goes through the one retry policy of remote connectors
(:mod:`syncline.connectors.retry`): 429/503 (after their ``Retry-After``), 500/502/504, a
refused or reset connection, a timeout or an answer cut short are tried again with jittered
exponential backoff within the run's retry budget. Reads are safe to repeat, and every write
carries a precondition (``If-None-Match: *`` for a create, ``If-Match`` for an update or a
delete), so a repeated write cannot be applied twice. A write whose first try was
**ambiguous** (no answer, or a 5xx after it was sent) may have been applied: when its repeat
then finds the precondition false (412) or the item gone (404 on a delete), the client says
so (:attr:`PreconditionFailed.after_ambiguous`, :attr:`ItemRefused.after_ambiguous`) and the
writer reads the item back before deciding (:mod:`~syncline.connectors.dav.writing`).

Errors: a failure that outlasts the retries raises
:class:`~syncline.connectors.retry.RetriesSpent` (an
:class:`~syncline.errors.EndpointUnavailable` naming the real cause: ``the server failed
(500 Internal Server Error) answering PUT …``), except a 507 Insufficient Storage answering a
PUT (the server's storage or the user's quota is full), which refuses that one item
(:class:`InsufficientStorage`: the writer stops sending new content in that batch, deletes go
on, and the items are tried again next run); 401 raises
:class:`~syncline.errors.AuthenticationFailed` naming the endpoint, URL and user (never the
password); an answer that is not the XML expected raises
:class:`~syncline.errors.ProtocolError` naming the URL.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from syncline.connectors.dav.protocol import (
    DAV,
    Response,
    clark,
    multiget_body,
    parse_error_conditions,
    parse_multistatus,
    propfind_body,
    sync_collection_body,
)
from syncline.connectors.retry import (
    DEFAULT_POLICY,
    RetryPolicy,
    Transient,
    send_with_retries,
    transient_answer,
)
from syncline.errors import AuthenticationFailed, EndpointUnavailable, ProtocolError
from syncline.run_context import RunContext

__all__ = [
    "DavClient",
    "InsufficientStorage",
    "ItemRefused",
    "NotMultistatus",
    "PreconditionFailed",
    "SyncTokenInvalid",
    "Written",
]

_XML = "application/xml; charset=utf-8"


class NotMultistatus(ProtocolError):
    """A PROPFIND or REPORT was answered with another ``status`` than 207 Multi-Status."""

    def __init__(self, endpoint: str, detail: str, status: int) -> None:
        self.status = status
        super().__init__(endpoint, detail)


class PreconditionFailed(Exception):
    """A PUT or DELETE found its precondition false (412): the item changed or exists.
    ``after_ambiguous``: an earlier try of the same request was ambiguous (see the module
    docstring), so the change found may be that try's own."""

    def __init__(self, url: str, *, after_ambiguous: bool = False) -> None:
        self.after_ambiguous = after_ambiguous
        super().__init__(url)


class ItemRefused(Exception):
    """The server refused one item (4xx other than 401 and 412): ``status`` and ``detail``;
    ``after_ambiguous`` as for :class:`PreconditionFailed` (a delete's 404 after an
    ambiguous try: that try may have deleted it)."""

    def __init__(self, status: int, detail: str, *, after_ambiguous: bool = False) -> None:
        self.status = status
        self.detail = detail
        self.after_ambiguous = after_ambiguous
        super().__init__(f"{status} {detail}")


class InsufficientStorage(ItemRefused):
    """A PUT was answered 507 Insufficient Storage: the server has no room for the item
    (its storage or the user's quota is full)."""


class SyncTokenInvalid(Exception):
    """The server no longer accepts a sync-token (RFC 6578 §3.2: 403 or 409 with
    ``DAV:valid-sync-token``; some servers answer a bare 403 / 409 / 410)."""


@dataclass(frozen=True, slots=True)
class Written:
    """A PUT's outcome: the new (strong) ETag when the server gave one."""

    etag: str | None


class DavClient:
    """HTTP with basic auth against one server, for one endpoint (named in errors).
    ``context`` gives the run context of the moment (its grace bounds the timeouts)."""

    def __init__(self, endpoint: str, *, username: str | None, password: str | None,
                 verify_tls: bool = True, ca_file: Path | None = None,
                 timeout: float = 30.0,
                 context: Callable[[], RunContext] | None = None,
                 retries: RetryPolicy = DEFAULT_POLICY) -> None:
        self.endpoint = endpoint
        self.username = username
        self.timeout = timeout
        self.retries = retries
        self._context = context
        verify: ssl.SSLContext | bool = verify_tls
        if verify_tls and ca_file is not None:
            try:
                verify = ssl.create_default_context(cafile=str(ca_file))
            except (OSError, ssl.SSLError) as error:
                from syncline.errors import ConfigError

                raise ConfigError(f"cannot load the CA file {ca_file}: {error}",
                                  key=f"endpoints.{endpoint}.ca_file") from None
        auth = httpx.BasicAuth(username, password or "") if username is not None else None
        self.http = httpx.Client(auth=auth, verify=verify, timeout=timeout,
                                 follow_redirects=False,
                                 headers={"User-Agent": "syncline"})

    def close(self) -> None:
        self.http.close()

    @staticmethod
    def url(base: str, href: str) -> str:
        """The absolute URL of ``href`` (a path or a URL) seen from ``base``."""
        return str(httpx.URL(base).join(href))

    # -- the one place requests are sent ------------------------------------------------------
    def request(self, method: str, url: str, *, body: bytes | None = None,
                headers: dict[str, str] | None = None,
                tries: _Tries | None = None) -> httpx.Response:
        """Send one request (retried as the module docstring says) and return the answer,
        whatever its status, except:

        PROPFIND and REPORT follow redirects (up to 5) on the same server, with the same
        method and body (httpx would turn a 302 into a GET, and credentials must not go to
        another server). ``tries``, when given, learns whether a try was ambiguous.

        Raises:
            RetriesSpent: no connection, a timeout, or a transient answer (429, 5xx) after
                every retry the policy allows.
            RunCancelled: the run was asked to stop while a retry was due.
            EndpointUnavailable: the server's certificate is refused (not retried).
            AuthenticationFailed: 401.
        """
        answer = self._send(method, url, body, headers, tries)
        origin = httpx.URL(url).copy_with(path="/", query=None, fragment=None)
        for _ in range(5):
            location = answer.headers.get("Location")
            if method not in ("PROPFIND", "REPORT") or not answer.is_redirect or not location:
                break
            target = self.url(url, location)
            if httpx.URL(target).copy_with(path="/", query=None, fragment=None) != origin:
                break
            url = target
            answer = self._send(method, url, body, headers, tries)
        return answer

    def _send(self, method: str, url: str, body: bytes | None,
              headers: dict[str, str] | None, tries: _Tries | None) -> httpx.Response:
        """One request with its retries (see :meth:`request`)."""
        context = self._context() if self._context is not None else RunContext()
        return send_with_retries(
            lambda: self._once(method, url, body, headers, context, tries),
            endpoint=self.endpoint, context=context, policy=self.retries)

    def _once(self, method: str, url: str, body: bytes | None,
              headers: dict[str, str] | None, context: RunContext,
              tries: _Tries | None) -> httpx.Response:
        """One try of a request.

        Raises:
            Transient: see :mod:`syncline.connectors.retry`.
            AuthenticationFailed: 401.
        """
        what = f"{method} {url}"
        try:
            answer = self.http.request(method, url, content=body, headers=headers,
                                       timeout=context.timeout(self.timeout))
            answer.read()
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            if _tls_refused(error):  # a certificate problem does not go away by retrying
                raise EndpointUnavailable(self.endpoint, f"{what}: {error}") from None
            raise Transient(f"no connection for {what} ({error or type(error).__name__})",
                            sent=False) from None
        except httpx.TimeoutException:
            failure = Transient(f"{what} timed out (no answer within "
                                f"{context.timeout(self.timeout):g} s)")
            raise _noted(failure, tries) from None
        except httpx.TransportError as error:
            failure = Transient(f"the connection broke during {what} "
                                f"({error or type(error).__name__})")
            raise _noted(failure, tries) from None
        if answer.status_code == 401:
            who = f"user '{self.username}'" if self.username else "no user name configured"
            raise AuthenticationFailed(self.endpoint, f"{url} answered 401 Unauthorized "
                                       f"({who}; check username and password)")
        if answer.status_code >= 500 and not (method == "PUT" and answer.status_code == 507):
            failure = transient_answer(answer.status_code, answer.reason_phrase,
                                       answer.headers, what) \
                or Transient(f"the server failed ({answer.status_code} "
                             f"{answer.reason_phrase}) answering {what}",
                             status=answer.status_code)
            raise _noted(failure, tries)
        if answer.status_code == 429:
            limited = transient_answer(429, answer.reason_phrase, answer.headers, what)
            assert limited is not None
            raise limited
        return answer

    def _multistatus(self, method: str, url: str, answer: httpx.Response) \
            -> tuple[list[Response], str | None]:
        """The parsed 207 answer.

        Raises:
            ProtocolError: another status, or a body that is not a multistatus document.
        """
        url = str(answer.url)  # where a redirect led
        if answer.status_code != 207:
            raise NotMultistatus(self.endpoint, f"{method} {url} answered "
                                 f"{answer.status_code} {answer.reason_phrase}, not 207 "
                                 f"Multi-Status{_excerpt(answer)}", answer.status_code)
        try:
            return parse_multistatus(answer.content)
        except ValueError as error:
            raise ProtocolError(self.endpoint, f"{method} {url}: {error}") from None

    # -- WebDAV methods ---------------------------------------------------------------------
    def propfind(self, url: str, properties: Sequence[str], depth: int) -> list[Response]:
        """PROPFIND ``url`` for ``properties`` at ``depth`` (0 or 1).

        Raises:
            ProtocolError: the answer is not a multistatus (404 included: no such
                collection).
        """
        answer = self.request("PROPFIND", url, body=propfind_body(properties),
                              headers={"Depth": str(depth), "Content-Type": _XML})
        return self._multistatus("PROPFIND", url, answer)[0]

    def sync_collection(self, url: str, token: str | None, properties: Sequence[str]) \
            -> tuple[list[Response], str]:
        """A ``sync-collection`` REPORT on ``url`` since ``token``: the changed and removed
        members (removed ones with status 404) and the new sync-token.

        Raises:
            SyncTokenInvalid: the server refuses the token.
            ProtocolError: another failure, or no new sync-token in the answer.
        """
        answer = self.request("REPORT", url, body=sync_collection_body(token, properties),
                              headers={"Depth": "0", "Content-Type": _XML})
        conditions = parse_error_conditions(answer.content) if answer.status_code != 207 \
            else []
        if token and (clark(DAV, "valid-sync-token") in conditions
                      or (answer.status_code in (403, 409, 410) and not conditions)):
            raise SyncTokenInvalid(f"{url} answered {answer.status_code}"
                                   f"{' (DAV:valid-sync-token)' if conditions else ''}")
        responses, new_token = self._multistatus("REPORT sync-collection", url, answer)
        if new_token is None:
            raise ProtocolError(self.endpoint, f"REPORT sync-collection {url}: the answer "
                                "holds no sync-token")
        return responses, new_token

    def multiget(self, url: str, kind: str, hrefs: Sequence[str], *,
                 with_data: bool = True) -> list[Response]:
        """An ``addressbook-multiget`` / ``calendar-multiget`` REPORT on collection ``url``
        (``kind``: ``addressbook`` or ``calendar``) for ``hrefs``.

        Raises:
            ProtocolError: the answer is not a multistatus.
        """
        answer = self.request("REPORT", url, body=multiget_body(kind, hrefs,
                                                                with_data=with_data),
                              headers={"Depth": "1", "Content-Type": _XML})
        return self._multistatus(f"REPORT {kind}-multiget", url, answer)[0]

    def put(self, url: str, body: bytes, content_type: str, *,
            etag: str | None = None) -> Written:
        """PUT ``body`` at ``url``: with ``etag``, only over that version (If-Match);
        without, only where nothing is (If-None-Match: *).

        Raises:
            PreconditionFailed: 412.
            InsufficientStorage: 507.
            ItemRefused: another 4xx (404: gone; 403 / 409 / 415: content refused).
        """
        headers = {"Content-Type": content_type}
        if etag is None:
            headers["If-None-Match"] = "*"
        else:
            headers["If-Match"] = etag
        tries = _Tries()
        answer = self.request("PUT", url, body=body, headers=headers, tries=tries)
        if answer.status_code == 412:
            raise PreconditionFailed(url, after_ambiguous=tries.ambiguous)
        if answer.status_code == 507:
            raise InsufficientStorage(507, f"{answer.reason_phrase}{_excerpt(answer)}".strip())
        if not 200 <= answer.status_code < 300:
            raise ItemRefused(answer.status_code,
                              f"{answer.reason_phrase}{_excerpt(answer)}".strip())
        etag = answer.headers.get("ETag")
        # a weak ETag (W/"...") never matches If-Match: ask for the item's own one instead
        return Written(etag if etag and not etag.startswith("W/") else None)

    def delete(self, url: str, etag: str | None) -> None:
        """DELETE ``url``, with ``etag`` only that version (If-Match).

        Raises:
            PreconditionFailed: 412.
            ItemRefused: another 4xx (404: already gone).
        """
        headers = {"If-Match": etag} if etag is not None else {}
        tries = _Tries()
        answer = self.request("DELETE", url, headers=headers, tries=tries)
        if answer.status_code == 412:
            raise PreconditionFailed(url, after_ambiguous=tries.ambiguous)
        if not 200 <= answer.status_code < 300:
            raise ItemRefused(answer.status_code,
                              f"{answer.reason_phrase}{_excerpt(answer)}".strip(),
                              after_ambiguous=tries.ambiguous)


def _tls_refused(error: BaseException) -> bool:
    """Whether a connection failed on TLS (a certificate not trusted, a handshake
    refused): a configuration problem, not a transient one."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(error)


class _Tries:
    """What the tries of one request saw: ``ambiguous`` once one of them may have reached
    the server without our learning its outcome."""

    def __init__(self) -> None:
        self.ambiguous = False


def _noted(failure: Transient, tries: _Tries | None) -> Transient:
    """``failure``, noted in ``tries`` when it is ambiguous."""
    if tries is not None and failure.ambiguous:
        tries.ambiguous = True
    return failure


def _excerpt(answer: httpx.Response) -> str:
    """A short, single-line excerpt of the answer's body for messages ("" when empty)."""
    text = " ".join(answer.text.split())[:200] if answer.content else ""
    return f": {text}" if text else ""
