"""Sending a notice by e-mail through the SMTP server of ``[notify.smtp]``.

The connection is plain, upgraded with STARTTLS, or TLS from the start
(:class:`~syncline.service_config.SmtpSecurity`); with ``username`` the client logs in
(``password`` may be written ``env:NAME``). TLS certificates are checked against the
system's trust store.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from syncline.errors import ConfigError, RunError
from syncline.secret_values import resolve_secret
from syncline.service_config import SmtpSecurity, SmtpSettings

__all__ = ["build_message", "send_email"]


def build_message(smtp: SmtpSettings, recipients: Sequence[str], subject: str,
                  text: str) -> EmailMessage:
    """A plain-text message from ``smtp.sender`` to ``recipients``."""
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=smtp.sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    return message


def send_email(smtp: SmtpSettings, recipients: Sequence[str], subject: str, text: str) -> None:
    """Send a plain-text e-mail to ``recipients``.

    Raises:
        ConfigError: the password's environment variable is not set.
        RunError: the server cannot be reached, refuses the login or the message (the
            message names the server, never the password).
    """
    message = build_message(smtp, recipients, subject, text)
    password = resolve_secret(smtp.password, key="notify.smtp.password") \
        if smtp.password is not None else None
    where = f"SMTP server {smtp.host}:{smtp.port}"
    context = ssl.create_default_context()
    try:
        client: smtplib.SMTP
        if smtp.security is SmtpSecurity.TLS:
            client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout,
                                      context=context)
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        with client:
            client.ehlo()
            if smtp.security is SmtpSecurity.STARTTLS:
                client.starttls(context=context)
                client.ehlo()
            if smtp.username is not None:
                client.login(smtp.username, password or "")
            refused = client.send_message(message, to_addrs=list(recipients))
    except smtplib.SMTPAuthenticationError as error:
        raise RunError(f"{where} refused the login of '{smtp.username}' "
                       f"({error.smtp_code})") from None
    except smtplib.SMTPRecipientsRefused as error:
        raise RunError(f"{where} refused every recipient: "
                       f"{', '.join(sorted(error.recipients))}") from None
    except smtplib.SMTPException as error:
        raise RunError(f"{where} did not take the message: {error}") from None
    except ConfigError:
        raise
    except (OSError, ssl.SSLError) as error:
        raise RunError(f"{where} cannot be reached: {error}") from None
    if refused:
        raise RunError(f"{where} refused {', '.join(sorted(refused))} (the others were sent)")
