"""A rebuild's helper process (see `ReadSide.rebuild`): its share of the read models arrives pickled on standard
input; it answers on standard output."""

from __future__ import annotations

import sys

from projections.readside import rebuild_share

if __name__ == "__main__":
    rebuild_share(sys.stdin.buffer.read(), sys.stdout)
