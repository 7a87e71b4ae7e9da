#!/usr/bin/env python3
"""Which processes ran at the same time, from a scheduler trace.

Record a second of context switches on every CPU while a run saturates the
tap box, then read the trace with this script:

    perf record -e sched:sched_switch -a -o sched.data -- sleep 1
    perf script -i sched.data -F cpu,time,trace | python3 loadtest/overlap.py

It prints, for each combination of what ran on the CPUs at once, the share of
the traced time: `S` the service (`oneticket`), `G` the generator
(`oneticket-loadtest`), `R` Redis, `o` anything else, `-` idle. `-S 48%`
means the service ran alone while the other CPU was idle for 48% of the time.
It then prints each one's CPU time over the traced time (`-`: idle CPU
time, up to 100% for each CPU).
"""

import collections
import re
import sys

SWITCH = re.compile(
    r"\s*\[(\d+)\]\s+([\d.]+):\s+prev_comm=.*? prev_pid=\d+.*==> next_comm=(.*?) next_pid=\d+"
)


def kind(comm: str) -> str:
    if comm.startswith("redis"):
        return "R"
    if comm.startswith("oneticket-loadt"):  # the kernel keeps 15 characters
        return "G"
    if comm.startswith("oneticket"):
        return "S"
    if comm.startswith("swapper"):
        return "-"
    return "o"


def main() -> None:
    switches = []
    for line in sys.stdin:
        match = SWITCH.match(line)
        if match:
            switches.append((float(match.group(2)), int(match.group(1)), kind(match.group(3))))
    if not switches:
        sys.exit("no sched_switch lines on stdin (see the usage above)")
    switches.sort()
    running = collections.defaultdict(lambda: "-")
    cpus = sorted({cpu for _, cpu, _ in switches})
    last = switches[0][0]
    shares = collections.Counter()
    for at, cpu, next_kind in switches:
        shares["".join(sorted(running[c] for c in cpus))] += at - last
        running[cpu] = next_kind
        last = at
    total = sum(shares.values()) or 1.0
    for combination, seconds in shares.most_common():
        print(f"{combination:>{len(cpus)}} {100 * seconds / total:5.1f}%")
    ran = collections.Counter()
    for combination, seconds in shares.items():
        for k in set(combination):
            ran[k] += seconds * combination.count(k)
    # CPU time over traced time: up to 100% a CPU, so `-` (idle) may pass 100%.
    print("CPU time: " + ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in sorted(ran.items())))


if __name__ == "__main__":
    main()
