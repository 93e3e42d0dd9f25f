"""Sign-in and the answers' edges, over real HTTP: password guessing is throttled (40 wrong
passwords, then the right one refused until the lock ends), the sign-in form needs its form
token, every answer carries the security headers, cookies are Secure behind an HTTPS proxy,
short passwords and unprintable user names are refused, ids out of range are 422 (never
500) and every error is a problem document."""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path

import httpx
import pytest

from cli.helpers import make_sql
from syncline.api.security_headers import CONTENT_SECURITY_POLICY
from syncline.state.users_store import Role
from syncline.web.throttle import SignInThrottle

from .support import Served, serve_process, sign_in, stop_process

HUGE = "99999999999999999999"
PROBLEM_KEYS = {"type", "title", "status", "detail"}


def _form_token(client: httpx.Client) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert found is not None
    return found.group(1)


def test_password_guessing_is_throttled(api: Served, caplog: pytest.LogCaptureFixture) -> None:
    throttle = SignInThrottle(window_s=30.0, first_delay_s=3.0)
    api.app.state.syncline_web_throttle = throttle
    codes: list[int] = []
    with httpx.Client(base_url=api.url, timeout=30.0) as client, \
            caplog.at_level(logging.WARNING, logger="syncline.web.signin"):
        token = _form_token(client)
        for attempt in range(40):
            answer = client.post("/login", data={"name": "admin", "csrf": token,
                                                 "password": f"wrong-guess-{attempt}"})
            codes.append(answer.status_code)
            if answer.status_code == 429:
                assert 1 <= int(answer.headers["retry-after"]) <= 3
                assert "Too many failed sign-ins" in answer.text
        right = client.post("/login", data={"name": "admin", "password": "admin-password",
                                            "csrf": token})
        # five free failures, the sixth checked and locking for 3 s, the rest refused
        # unchecked; the right password too, while the lock holds
        assert codes[:6] == [401] * 6 and codes.count(429) >= 30, codes
        assert right.status_code == 429, right.text
        assert "sign-in of 'admin' from 127.0.0.1 locked for 3.0 s after 6 failed" in \
            caplog.text
        assert client.cookies.get("syncline_session") is None
        # another account from the same address is locked as well (per-address count)
        other = client.post("/login", data={"name": "viewer", "password": "viewer-password",
                                            "csrf": token})
        assert other.status_code == 429
        time.sleep(int(right.headers["retry-after"]) + 0.3)
        signed = client.post("/login", data={"name": "admin", "password": "admin-password",
                                             "csrf": token})
        assert signed.status_code == 303, signed.text
        assert client.cookies.get("syncline_session")


def test_sign_in_needs_its_form_token(api: Served) -> None:
    with httpx.Client(base_url=api.url, timeout=30.0) as client:
        missing = client.post("/login", data={"name": "admin", "password": "admin-password"})
        assert missing.status_code == 403 and "expired or came from another site" in \
            missing.text
        forged = client.post("/login", data={"name": "admin", "password": "admin-password",
                                             "csrf": "forged-token"})
        assert forged.status_code == 403
        assert client.cookies.get("syncline_session") is None
    with httpx.Client(base_url=api.url, timeout=30.0) as other, \
            httpx.Client(base_url=api.url, timeout=30.0) as client:
        token = _form_token(other)  # a token from another browser (another site's visitor)
        client.get("/login")
        crossed = client.post("/login", data={"name": "admin", "password": "admin-password",
                                              "csrf": token})
        assert crossed.status_code == 403
        assert sign_in(client, "admin", "admin-password").status_code == 303


def test_every_answer_carries_the_security_headers(api: Served) -> None:
    viewer = api.client(Role.VIEWER)
    with httpx.Client(base_url=api.url, timeout=30.0) as console:
        login = console.get("/login")
        answers = [login, viewer.get("/api/links"), viewer.get("/api/runs/1"),
                   console.get("/static/app.js"), console.get("/")]
    for answer in answers:
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "same-origin"
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "<script>" not in login.text and " style=" not in login.text
    docs = httpx.get(f"{api.url}/api/docs")
    assert docs.headers["content-security-policy"] == "frame-ancestors 'none'"
    cookie = login.headers["set-cookie"]
    assert "syncline_login=" in cookie and "HttpOnly" in cookie and "Secure" not in cookie


def test_cookies_are_secure_behind_an_https_proxy(api: Served) -> None:
    # uvicorn trusts X-Forwarded-* from 127.0.0.1 here (``syncline serve`` only with
    # --forwarded-allow-ips)
    https = {"x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.7"}
    with httpx.Client(base_url=api.url, timeout=30.0, headers=https) as client:
        login = client.get("/login")
        assert "Secure" in login.headers["set-cookie"]
        found = re.search(r'name="csrf" value="([^"]+)"', login.text)
        assert found is not None
        # httpx keeps Secure cookies for https only: hand the nonce over as a browser would
        nonce = re.search(r"syncline_login=([^;]+)", login.headers["set-cookie"])
        assert nonce is not None
        signed = client.post("/login", data={"name": "admin", "password": "admin-password",
                                             "csrf": found.group(1)},
                             headers={"cookie": f"syncline_login={nonce.group(1)}"})
        assert signed.status_code == 303, signed.text
        session = [value for name, value in signed.headers.multi_items()
                   if name == "set-cookie" and value.startswith("syncline_session=")]
        assert session and "Secure" in session[0] and "HttpOnly" in session[0]


def test_new_passwords_and_user_names_are_checked(api: Served) -> None:
    admin = api.client(Role.ADMIN)
    short = admin.post("/api/users", json={"name": "sam", "role": "viewer",
                                           "password": "short-pw"})
    assert short.status_code == 422 and short.json()["errors"][0]["loc"] == \
        ["body", "password"]
    assert "at least 12 characters" in short.json()["detail"]
    for name in ("sam\u0007", "sa\u001bm", "s\u200bam", "sa m"):
        refused = admin.post("/api/users", json={"name": name, "role": "viewer"})
        assert refused.status_code == 422, (name, refused.text)
        assert "control character" in refused.json()["detail"]
    assert admin.post("/api/users", json={"name": "sam", "role": "viewer",
                                          "password": "twelve-chars"}).status_code == 201
    assert admin.patch("/api/users/sam", json={"password": "x"}).status_code == 422
    assert "sam\u0007" not in str(admin.get("/api/users").json())


@pytest.mark.parametrize(("method", "path"), [
    ("GET", f"/api/runs/{HUGE}"),
    ("GET", "/api/runs/2147483648"),
    ("GET", "/api/runs/0"),
    ("GET", f"/api/runs/{HUGE}/journal"),
    ("GET", f"/api/links/lr/journal?run={HUGE}"),
    ("GET", f"/api/links/lr/journal?before={HUGE}"),
    ("GET", f"/api/runs/1/journal?before={HUGE}"),
    ("GET", f"/api/links/lr/warnings?run={HUGE}"),
    ("DELETE", f"/api/tokens/{HUGE}"),
    ("DELETE", "/api/tokens/-1"),
    ("POST", f"/api/links/lr/conflicts/{HUGE}/resolve"),
])
def test_ids_out_of_range_are_422(api: Served, method: str, path: str) -> None:
    answer = api.client(Role.ADMIN).request(method, path, json={"side": "a"})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert set(body) >= PROBLEM_KEYS and body["status"] == 422
    assert body["errors"] and body["errors"][0]["loc"][0] in ("path", "query")


def test_in_range_ids_and_other_errors_are_problems(api: Served) -> None:
    admin = api.client(Role.ADMIN)
    missing = admin.get("/api/runs/2147483647")
    assert missing.status_code == 404
    assert missing.json() == {"type": "about:blank", "title": "Not Found", "status": 404,
                              "detail": "no run 2147483647"}
    assert admin.delete("/api/tokens/2147483647").status_code == 404
    broken = admin.post("/api/links/lr/sync", content=b'{"streams": [',
                        headers={"content-type": "application/json"})
    assert broken.status_code == 400 and broken.json()["status"] == 400
    assert broken.json()["detail"].startswith("the request body is not valid JSON")
    anonymous = httpx.get(f"{api.url}/api/links")
    assert anonymous.status_code == 401 and set(anonymous.json()) == PROBLEM_KEYS
    assert anonymous.headers["www-authenticate"] == "Bearer"
    document = httpx.get(f"{api.url}/api/openapi.json").json()
    operation = document["paths"]["/api/links/{link}/sync"]["post"]
    assert {"400", "401", "403", "404", "409", "422"} <= set(operation["responses"])
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert document["paths"]["/api/runs/{run_id}"]["get"]["parameters"][0]["schema"][
        "maximum"] == 2147483647


def test_serve_believes_proxy_headers_only_from_allowed_addresses(
        tmp_path: Path) -> None:
    """``syncline serve`` as a process: without ``--forwarded-allow-ips`` a request saying
    it came over HTTPS gets no Secure cookie; with the proxy's address allowed, it does."""
    pair = make_sql(tmp_path)
    environment = {name: value for name, value in os.environ.items()
                   if name != "SYNCLINE_SECRET_KEY"}
    environment["XDG_CONFIG_HOME"] = str(tmp_path / "config-home")
    https = {"x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.7"}
    for options, secure in (((), False), (("--forwarded-allow-ips", "127.0.0.1"), True)):
        process, base = serve_process(pair.config, environment, *options)
        try:
            login = httpx.get(f"{base}/login", headers=https, timeout=30)
            assert login.status_code == 200
            assert ("Secure" in login.headers["set-cookie"]) is secure, options
            assert login.headers["x-frame-options"] == "DENY"
        finally:
            stop_process(process)
