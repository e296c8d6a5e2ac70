"""The one exception type that reaches users as a one-line message."""


class UserError(Exception):
    """Bad input: the message names the problem and the fix.

    The CLI prints it on one line and exits with status 2; library callers can
    catch it like any other exception.
    """


def warn(message: str) -> None:
    """One line on stderr about something repaired or skipped; work goes on."""
    import sys

    print(f"algoperf-lite: {' '.join(message.split())}", file=sys.stderr, flush=True)
