"""``python -m service [GUNICORN OPTIONS]``: the demo service under gunicorn with
``service/gunicorn.conf.py``, as ``make serve``, the native stack and the image start it.
Options are gunicorn's own (``--pid FILE``, ``--no-control-socket``).

Why not ``gunicorn -c service/gunicorn.conf.py`` alone: gunicorn reads ``WEB_CONCURRENCY``
with ``int()`` when its config module is imported, before any config file runs (gunicorn's
``workers`` setting), so a value it cannot read (``two``, ``2.5``, blank) ended in gunicorn's
traceback. Here that setting is read first by the same rule the config file applies
(``service.config.worker_count``), and a bad value ends like every other bad setting: one ECS JSON line on
stderr, exit status 1 (``trackstack.settings.exit_for``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from service.config import worker_count
from trackstack.settings import ConfigError, exit_for

CONFIG = Path(__file__).with_name("gunicorn.conf.py")


def main(argv: list[str]) -> None:
    try:
        count = worker_count(os.environ)
    except ConfigError as exc:
        exit_for(exc)
    # The form gunicorn's int() reads; the config file reads it again by the same rule.
    os.environ["WEB_CONCURRENCY"] = str(count)
    from gunicorn.app.wsgiapp import run  # after the fix above: its import reads the variable

    sys.argv = ["gunicorn", "-c", str(CONFIG), *argv]
    run(prog="python -m service")


if __name__ == "__main__":
    main(sys.argv[1:])
