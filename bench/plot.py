#!/usr/bin/python3
"""Draws SyncBench's scale figures and puts its table into the performance document.

    python3 bench/plot.py RESULTS_DIR DOCUMENT

Reads RESULTS_DIR/scale.csv and RESULTS_DIR/table.md (written by SyncBench --results),
writes RESULTS_DIR/scale.png (wall time and peak RSS against directory size, log x), and
replaces the text between the markers <!-- bench-table-start --> and <!-- bench-table-end -->
of DOCUMENT with the table (the markers are added at the end if missing).
"""
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")  # no display: write the PNG only
import matplotlib.pyplot as plt  # noqa: E402

START = "<!-- bench-table-start -->"
END = "<!-- bench-table-end -->"


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    results, document = sys.argv[1], sys.argv[2]
    series: dict[str, list[tuple[int, float, float]]] = {}
    with open(os.path.join(results, "scale.csv"), newline="") as file:
        for row in csv.DictReader(file):
            series.setdefault(row["series"], []).append(
                (int(row["people"]), float(row["wall_s"]), float(row["peak_rss_mb"])))

    figure, (times, memory) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"ldapsearch": "k--o"}
    for name, points in sorted(series.items()):
        points.sort()
        people = [p for p, _, _ in points]
        style = styles.get(name, "-o")
        if name == "ldapsearch":
            label = "ldapsearch dump (baseline)"
        elif name.startswith("full "):
            label = "ldapsync full run, " + name[len("full "):]
        else:  # "SQLite every-run": the incremental run with 100 changes
            label = "incremental, 100 changes, " + name
        times.plot(people, [w for _, w, _ in points], style, label=label)
        if name == "ldapsearch" or name.startswith("full"):
            memory.plot(people, [m for _, _, m in points], style, label=label)
    for axis in (times, memory):
        axis.set_xscale("log")
        axis.set_xlabel("people in the directory (groups: 1/100 of them)")
        axis.grid(True, which="both", alpha=0.3)
    times.set_yscale("log")
    times.set_ylabel("wall time, s")
    times.set_title("Time")
    memory.set_ylabel("peak RSS, MB")
    memory.set_title("Peak resident set")
    memory.axhline(150, color="red", linewidth=0.8, linestyle=":", label="target at 1M: 150 MB")
    times.legend(fontsize=8)
    memory.legend(fontsize=8)
    figure.tight_layout()
    png = os.path.join(results, "scale.png")
    figure.savefig(png, dpi=110)
    print(f"plot.py: wrote {png}")

    # The resident set of the traced full runs over time (rss-STORE-SIZE.csv, VmRSS every 50 ms).
    traces = sorted(name for name in os.listdir(results) if name.startswith("rss-") and name.endswith(".csv"))
    if traces:
        figure, axis = plt.subplots(figsize=(11, 3.6))
        for name in traces:
            with open(os.path.join(results, name), newline="") as file:
                rows = list(csv.DictReader(file))
            if not rows:
                continue
            label = name[len("rss-"):-len(".csv")].replace("-", ", ")
            times = [float(r["seconds"]) for r in rows]
            line, = axis.plot(times, [int(r["rss_kb"]) / 1024 for r in rows], label=label + ": VmRSS")
            if "anon_kb" in rows[0]:  # the heap and the mapped files (LMDB), dashed and dotted
                axis.plot(times, [int(r["anon_kb"]) / 1024 for r in rows], "--", color=line.get_color(), label=label + ": RssAnon")
                axis.plot(times, [int(r["file_kb"]) / 1024 for r in rows], ":", color=line.get_color(), label=label + ": RssFile")
        axis.set_xlabel("seconds since the start of the full run")
        axis.set_ylabel("VmRSS, MB")
        axis.set_title("Resident set of ldapsync during the full runs")
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8)
        figure.tight_layout()
        timeline = os.path.join(results, "rss-timeline.png")
        figure.savefig(timeline, dpi=110)
        print(f"plot.py: wrote {timeline}")

    with open(os.path.join(results, "table.md")) as file:
        table = file.read().rstrip("\n")
    text = open(document).read() if os.path.exists(document) else ""
    block = f"{START}\n{table}\n{END}"
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(document, "w") as file:
        file.write(text)
    print(f"plot.py: put the table into {document}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
