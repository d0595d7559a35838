#!/usr/bin/env python3
"""Runs a command and traces its resident set every millisecond (docs/performance.md).

    .build-release/release/SyncBench .build-release/release/ldapsync --sizes 1M \
        --stores sqlite --only-full --no-writeback --wrap bench/rss-trace.py

SyncBench's own sampling (every 50 ms) misses spikes that `ru_maxrss` still records.
This wrapper reads /proc/PID/status every millisecond (VmRSS, RssAnon, RssFile and
VmHWM, the high-water mark, which says when the peak happened) and, while more than
RSS_TRACE_FILE_KB of mapped files are resident, which files they are (from
/proc/PID/smaps, at most 200 times). One file per run, in RSS_TRACE_DIR
(default /tmp/rss-trace): `PID.rss`, its first line the command.
"""
import os
import subprocess
import sys
import time

directory = os.environ.get("RSS_TRACE_DIR", "/tmp/rss-trace")
file_threshold = int(os.environ.get("RSS_TRACE_FILE_KB", "70000"))
os.makedirs(directory, exist_ok=True)
child = subprocess.Popen(sys.argv[1:])
status_path = "/proc/%d/status" % child.pid
smaps_path = "/proc/%d/smaps" % child.pid
fields = ("VmRSS", "RssAnon", "RssFile", "VmHWM")
dumps = 0
with open(os.path.join(directory, "%d.rss" % child.pid), "w") as log:
    log.write(" ".join(sys.argv[1:]) + "\n")
    while child.poll() is None:
        try:
            with open(status_path) as status:
                values = {line.split(":")[0]: line.split()[1] for line in status if line.startswith(fields)}
            log.write("%.6f %s\n" % (time.time(), " ".join(values.get(field, "0") for field in fields)))
            if int(values.get("RssFile", "0")) > file_threshold and dumps < 200:
                dumps += 1
                resident, name = {}, None
                with open(smaps_path) as smaps:
                    for line in smaps:
                        parts = line.split()
                        if "-" in parts[0] and len(parts) >= 5:
                            name = parts[5] if len(parts) > 5 else "[anonymous]"
                        elif parts[0] == "Rss:":
                            resident[name] = resident.get(name, 0) + int(parts[1])
                top = sorted(resident.items(), key=lambda item: -item[1])[:4]
                log.write("SMAPS %.6f %s\n" % (time.time(), " ".join("%s=%d" % item for item in top)))
        except (OSError, ValueError, IndexError):
            pass  # the process is exiting
        time.sleep(0.001)
sys.exit(child.returncode)
