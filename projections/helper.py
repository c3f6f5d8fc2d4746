"""A rebuild's helper process (see `ReadSide.rebuild`): its share of the read models arrives pickled on standard
input; it answers on standard output."""

from __future__ import annotations

import os
import sys

from projections.readside import rebuild_share

if __name__ == "__main__":
    try:
        rebuild_share(sys.stdin.buffer.read(), sys.stdout)
    except BrokenPipeError:
        # The rebuild that started it is gone (killed): every page it committed stands with its position, and the
        # next rebuild makes its generations again. A traceback would only land on the terminal the command left.
        # Standard output pointed at nothing, so that the interpreter's last flush fails no more (Python's advice).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
