"""Where the server's time goes, from py-spy's raw stacks (bench/web_load.py --profile DIR, or by hand:
`py-spy record --pid PID --subprocesses --nonblocking --format raw -o FILE`).

    .venv/bin/python bench/web_load_profile.py FILE [FILE ...]

Per file: the share of samples by package where the sampled frame sits (self time), and the functions of the
project (web, projections, workflow, domain) by the share of samples with them on the stack (inclusive: a function
is counted once per sample however often it recurses). Samples of threads waiting on a lock, a condition or a
socket's select (idle thread-pool workers, the event loop between requests) are left out, as py-spy's own idle
filter lets some through; a thread waiting for the database is counted, as it is part of a request's time.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^:()]+)(?::\d+)?\)$")
OURS = ("web/", "projections/", "workflow/", "domain/")
WAITING = ("threading.py", "selectors.py", "queue.py")


def _package(file: str) -> str:
    if file.startswith(OURS):
        return file.split("/", 1)[0] + "/" + file.split("/")[-1]
    top = file.split("/", 1)[0]
    return top.removesuffix(".py")


def _frames(stack: str) -> list[tuple[str, str]]:
    found = []
    for frame in stack.split(";"):
        matched = FRAME.match(frame)
        if matched is not None:
            found.append((matched["function"], matched["file"]))
    return found


def summarize(raw: Path, top: int = 30) -> None:
    self_by_package: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = _frames(stack)
        if not frames or frames[-1][1] in WAITING:
            continue
        total += count
        self_by_package[_package(frames[-1][1])] += count
        seen = {f"{function} ({file})" for function, file in frames if file.startswith(OURS)}
        for name in seen:
            inclusive[name] += count
    print(f"\n{raw.name}: {total:,} samples")
    if not total:
        return
    print("  self time by package:")
    for name, count in self_by_package.most_common(15):
        print(f"    {100 * count / total:5.1f}%  {name}")
    print("  project functions by inclusive time:")
    for name, count in inclusive.most_common(top):
        print(f"    {100 * count / total:5.1f}%  {name}")


if __name__ == "__main__":
    for argument in sys.argv[1:]:
        summarize(Path(argument))
