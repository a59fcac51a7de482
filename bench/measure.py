"""Wall time and peak memory of a command in its own process, and Matchering as a command.

Shared by the mastering benches (bench_master, bench_master_pairs, bench_master_speed).
"""

from __future__ import annotations

import json
import subprocess
import sys

#: Matchering 2.0.6 as a `python -c` script: target, reference, 16-bit result path.
MATCHERING_CLI = """
import sys, matchering as mg
mg.log(lambda *a, **k: None)
mg.process(target=sys.argv[1], reference=sys.argv[2], results=[mg.pcm16(sys.argv[3])])
"""

# Measured from a small launcher process: a child forked from a large bench process would
# report that process's resident size as its own peak (ru_maxrss survives exec).
LAUNCHER = """
import json, os, subprocess, sys, time
t0 = time.monotonic()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
_, status, usage = os.wait4(proc.pid, 0)
err = proc.stderr.read().decode(errors="replace")
print(json.dumps({"wall_s": time.monotonic() - t0, "peak_rss_mb": usage.ru_maxrss / 1024.0,
                  "rc": os.waitstatus_to_exitcode(status), "err": err[-2000:]}))
"""


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Run cmd in a subprocess; wall time (s) and its own peak RSS (MB) from os.wait4."""
    res = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, *cmd], capture_output=True,
                         text=True, check=True, env=env)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    if out["rc"] != 0:
        raise RuntimeError(f"{cmd[:4]} failed ({out['rc']}): {out['err']}")
    return {"wall_s": out["wall_s"], "peak_rss_mb": out["peak_rss_mb"]}
