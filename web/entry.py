"""The console script `dossierflow`: the command line, imported here so that Ctrl-C while it loads ends quietly.

Loading the command line (SQLAlchemy, the read models, typer) takes most of a second, and a KeyboardInterrupt raised
then, before `web.cli.main` catches anything, printed the import's traceback. Nothing is opened while it loads.
"""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from web.cli import main as run
    except KeyboardInterrupt:
        sys.exit(130)  # as an interrupted command exits (typer's own code for it)
    run()
