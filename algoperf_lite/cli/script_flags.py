"""absl flags with ml_collections configs for the scripts, the AlgoPerf way
(``--config.field=value`` overrides, as in Flax examples), and our rule for
bad input: one line naming the problem, exit status 2."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


def parse(program: str, argv: list[str], define: Callable[[list[str]], Any]) -> Any:
    """``define(argv)`` (it defines the config flags, which read their overrides
    from ``argv``), then parse every absl flag; returns what ``define`` returned."""
    from absl import flags

    try:
        defined = define(argv)
        flags.FLAGS(argv)
        return defined
    except (AttributeError, KeyError) as e:  # an override of a field the config lacks
        name = str(e).strip("\"'")
        _refuse(f"{program}: no setting '{name}'; see the config's get_config()")
    except (flags.Error, TypeError, ValueError) as e:
        # A config file's own error arrives with its traceback: keep the last line.
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        reason = lines[-1] if lines and lines[0].endswith("config file:") else " ".join(lines)
        _refuse(f"{program}: {reason} (see --helpfull)")


def _refuse(message: str):
    print(message, file=sys.stderr)
    sys.exit(2)
