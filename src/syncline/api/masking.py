"""Keeping secrets out of what the API returns: the functions of
:mod:`syncline.redaction`, under the names the API (and the web console) import."""

from __future__ import annotations

from syncline.redaction import (
    MASK,
    ScrubbingFilter,
    config_secrets,
    install_log_scrubbing,
    is_secret_name,
    mask_settings,
    mask_text_urls,
    scrub,
    secret_values,
)

__all__ = ["MASK", "ScrubbingFilter", "config_secrets", "install_log_scrubbing",
           "is_secret_name", "mask_settings", "mask_text_urls", "scrub", "secret_values"]
