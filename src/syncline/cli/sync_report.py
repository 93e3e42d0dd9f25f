"""What ``syncline sync`` says when its runs are over: per link, the outcome it got; the exit
code of the whole command; the JSON document of a link that did not run; and where to look
when records could not go.

Terms: a link's **result** is the outcome of its run (``ok``, ``warning``, ``error``,
``failed``), ``config-error`` when its configuration kept it from running (an unset
``env:`` variable, a missing table): that link is skipped and the others run, or
``left-out`` when ``sync`` with no link (Sync All) did not run it: Sync All is off for it,
or it is paused (a left-out link does not change the exit code).

The exit code is the worst result, in this order (worst first):

=====  =====================================================================
code   when
=====  =====================================================================
2      a link has a configuration error (it was skipped; the others ran)
3      a run could not proceed (endpoint unreachable, link busy, ...)
1      a run finished with item errors (records stay pending)
0      every run went (warnings included)
=====  =====================================================================

A configuration error ranks first because it does not go away by itself: someone must edit
the configuration or the environment, while a failed run is retried by the next one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

    from syncline.service.outcomes import RunSummary

__all__ = ["CONFIG_ERROR", "EXIT_ORDER", "LEFT_OUT", "LinkResult", "errors_hint", "exit_code",
           "not_run_json", "results_table"]

CONFIG_ERROR = "config-error"
"""The result of a link that its configuration kept from running."""

LEFT_OUT = "left-out"
"""The result of a link that Sync All (``sync`` with no link) did not run."""

EXIT_ORDER: tuple[tuple[str, int], ...] = (
    (CONFIG_ERROR, 2),
    ("failed", 3),
    ("error", 1),
)
"""Result -> exit code, worst first; any other result (``ok``, ``warning``) exits 0."""


@dataclass(frozen=True)
class LinkResult:
    """One link's result in a ``sync`` command (see the module docstring); ``message`` says
    why it failed or was skipped; ``errors`` counts the records that could not go."""

    link: str
    outcome: str
    message: str | None = None
    errors: int = 0


def exit_code(results: Iterable[LinkResult]) -> int:
    """The exit code of a ``sync`` command: that of its worst result (see the module
    docstring)."""
    seen = {result.outcome for result in results}
    for outcome, code in EXIT_ORDER:
        if outcome in seen:
            return code
    return 0


def not_run_json(link: str, outcome: str, message: str,
                 row: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The run-shaped JSON document of a link whose run did not take place or stopped at
    once (busy: ``failed``; a configuration error: ``config-error``; not in Sync All:
    ``left-out``): the stored run ``row``
    when the attempt was recorded, else ``null`` run fields; ``messages`` hold ``message``.
    """
    from syncline.cli.render import run_row_json

    document = run_row_json(link, row)
    document["outcome"] = outcome
    if message not in document["messages"]:
        document["messages"] = [*document["messages"], message]
    return document


def errors_hint(summary: RunSummary) -> str | None:
    """What to run to see why records could not go, when a run left some pending."""
    errors = sum(counts.errors for counts in summary.streams.values())
    if summary.dry_run or not errors:
        return None
    records = "record" if errors == 1 else "records"
    return (f"{summary.link}: {errors} {records} could not go (they stay pending and are "
            f"retried by the next run); run `syncline errors {summary.link}` to see them "
            f"grouped by cause")


def results_table(results: Sequence[LinkResult], code: int) -> Table:
    """Which link got which result, and the command's exit code."""
    from rich.table import Table
    from rich.text import Text

    from syncline.cli.render import outcome_text

    table = Table(title=f"links ({len(results)}), exit code {code}", title_justify="left")
    for name in ("link", "outcome", "detail"):
        table.add_column(name, overflow="fold")
    for result in results:
        if result.outcome == CONFIG_ERROR:
            shown = Text(result.outcome, style="bold red")
        elif result.outcome == LEFT_OUT:
            shown = Text(result.outcome, style="dim")
        else:
            shown = outcome_text(result.outcome)
        detail = result.message or ""
        if result.errors and not detail:
            detail = f"{result.errors} could not go: syncline errors {result.link}"
        table.add_row(result.link, shown, detail)
    return table
