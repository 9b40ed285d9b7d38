#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""report.py RESULTS.json BENCHMARKS.md (PLOT.png | --section NAME)

Writes the results table, the targets of issue 6 and what the URIBL check
and the DMARC history add to authmilter's row between the
"<!-- bench:table:begin -->" and "<!-- bench:table:end -->" lines of
BENCHMARKS.md, and the plot (messages/s and p99 against concurrency, one
line per row, one panel pair per DNS delay) to PLOT.png; with --section
NAME, between "<!-- bench:NAME:begin -->" and "<!-- bench:NAME:end -->"
and no plot (a run of some rows only).
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BEGIN = "<!-- bench:%s:begin -->"
END = "<!-- bench:%s:end -->"
AM = "authmilter, every check"
# Rows that are authmilter's with one thing added: their cost is the
# difference to AM in the same run.
ADDED = ("authmilter + URIBL (2 zones)",
         "authmilter + DMARC history (SQLite)")


def get(res, row, conc, delay):
    for r in res:
        if r["row"].startswith(row) and r["conc"] == conc and \
                r["delay"] == delay:
            return r
    return None


def table(res):
    out = ["Each row: the median of its repeats for msg/s, latencies and "
           "CPU; the highest peak RSS; messages, actions and verdict "
           "mismatches added up over the repeats.", "",
           "CPU ms/msg is the milters' own; DNS and load are the DNS "
           "server's (unbound, and the delaying relay at 20 ms) and the "
           "load generator's, per message of the same run: the three "
           "share the 2 cores.", "",
           "| DNS delay | row | sessions | messages | msg/s | p50 ms | "
           "p99 ms | CPU ms/msg | DNS, load CPU ms/msg | peak RSS MB | "
           "actions | verdicts |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in res:
        acts = ", ".join("%s %d" % (k, v) for k, v in r["actions"].items()
                         if v)
        ver = ("%d mismatches" % r["mismatches"]) if r["checked"] else "-"
        if "history_rows" in r:
            ver += "; %d history rows" % r["history_rows"]
        out.append("| %d ms | %s | %d | %d | %.0f | %.2f | %.2f | %.3f | "
                   "%.3f, %.3f | %.1f | %s | %s |" % (
                       r["delay"], r["row"], r["conc"], r["messages"],
                       r["rate"], r["p50_ms"], r["p99_ms"],
                       r["cpu_ms_per_msg"],
                       r.get("dns_cpu_ms_per_msg", 0),
                       r.get("load_cpu_ms_per_msg", 0), r["rss_mb"],
                       acts, ver))
    return out


def each(r, key, fmt):
    """The repeats' values of a combined result, for the record."""
    vals = r.get(key)
    if not vals or len(vals) < 2:
        return ""
    return " (each repeat: %s)" % ", ".join(fmt % v for v in vals)


def targets(res):
    n = max((r.get("repeats", 1) for r in res), default=1)
    out = ["", "Targets (issue 6), from this run (medians of %d interleaved "
           "repeats):" % n, ""]
    am, ch = AM, "OpenDKIM -> OpenDMARC"
    for c in (8, 32):
        a, b = get(res, am, c, 0), get(res, ch, c, 0)
        if a and b and b["rate"] > 0:
            x = a["rate"] / b["rate"]
            per = ""
            if len(a.get("rates", [])) > 1 and \
                    len(a["rates"]) == len(b.get("rates", [])):
                per = " (repeat by repeat: %s)" % ", ".join(
                    "%.2fx" % (p / q) for p, q in zip(a["rates"],
                                                      b["rates"]) if q)
            out.append("- messages/s at %d sessions, 0 ms DNS: authmilter "
                       "%.0f, chain %.0f: **%.2fx**%s (target >= 3x): %s" % (
                           c, a["rate"], b["rate"], x, per,
                           "met" if x >= 3 else "NOT met"))
    for c in (1, 8, 32):
        a = get(res, am, c, 20)
        if a:
            split = ""
            if a.get("env_p50_ms"):
                split = ("; split p50: connect to the RCPT reply %.1f, "
                         "RCPT reply to end of message %.1f" % (
                             a["env_p50_ms"], a["content_p50_ms"]))
            out.append("- p50 at 20 ms DNS, %d session(s): %.1f ms%s "
                       "(target <= 50 ms): %s%s" % (
                           c, a["p50_ms"], each(a, "p50s", "%.1f"),
                           "met" if a["p50_ms"] <= 50 else "NOT met",
                           split))
    for d in (0, 20):
        a = get(res, am, 32, d)
        if a:
            out.append("- peak RSS at 32 sessions, %d ms DNS: %.1f MB "
                       "(target <= 32 MB): %s" % (
                           d, a["rss_mb"],
                           "met" if a["rss_mb"] <= 32 else "NOT met"))
    for r in res:
        if "history_rows" in r:
            out.append("- DMARC history rows written, %s, %d session(s), "
                       "%d ms DNS: %d for %d messages: %s" % (
                           r["row"], r["conc"], r["delay"],
                           r["history_rows"], r["messages"],
                           "all" if r["history_rows"] == r["messages"]
                           else "NOT all"))
    bad = [r for r in res if r["checked"] and r["mismatches"]]
    out.append("- authmilter verdicts against the corpus: %s" % (
        "all match" if not bad else "%d rows with mismatches" % len(bad)))
    errs = [r for r in res if r["actions"].get("error")]
    out.append("- runs with errors (timeouts, protocol): %s" % (
        ", ".join("%s c=%d %d ms: %d" % (r["row"], r["conc"], r["delay"],
                                         r["actions"]["error"])
                  for r in errs) or "none"))
    return out


def costs(res):
    """What each row of ADDED costs beside AM's, measured in the same run:
    CPU per message (the difference of the medians, and repeat by
    repeat: the repeats are interleaved, so each pair ran in the same
    minute), and at 20 ms DNS the p50 (the round trips it adds)."""
    out = []
    for name in ADDED:
        lines = []
        for d in sorted({r["delay"] for r in res}):
            for c in sorted({r["conc"] for r in res}):
                a = next((r for r in res if r["row"] == AM and
                          r["conc"] == c and r["delay"] == d), None)
                b = next((r for r in res if r["row"] == name and
                          r["conc"] == c and r["delay"] == d), None)
                if not a or not b:
                    continue
                per = ""
                if len(a.get("cpus", [])) > 1 and \
                        len(a["cpus"]) == len(b.get("cpus", [])):
                    per = " (repeat by repeat: %s)" % ", ".join(
                        "%+.3f" % (q - p) for p, q in zip(a["cpus"],
                                                          b["cpus"]))
                p50 = ""
                if d > 0:
                    p50 = "; p50 %.1f -> %.1f ms (%+.1f)" % (
                        a["p50_ms"], b["p50_ms"],
                        b["p50_ms"] - a["p50_ms"])
                    if b.get("content_p50_ms"):
                        p50 += (", RCPT reply to end of message %.1f -> "
                                "%.1f" % (a["content_p50_ms"],
                                          b["content_p50_ms"]))
                lines.append("  - %d ms DNS, %d session(s): CPU %.3f -> "
                             "%.3f ms/msg (**%+.3f**)%s; msg/s %.0f -> "
                             "%.0f%s" % (
                                 d, c, a["cpu_ms_per_msg"],
                                 b["cpu_ms_per_msg"],
                                 b["cpu_ms_per_msg"] - a["cpu_ms_per_msg"],
                                 per, a["rate"], b["rate"], p50))
        if lines:
            out += ["- %s against %s (medians):" % (name, AM)] + lines
    if out:
        out = ["", "What the URIBL check and the DMARC history add (issue "
               "19 point 6; issue 18 point 4), from this run:", ""] + out
    return out


def plot(res, path):
    rows = []
    for r in res:
        if r["row"] not in rows:
            rows.append(r["row"])
    delays = sorted({r["delay"] for r in res})
    fig, ax = plt.subplots(len(delays), 2, figsize=(12, 4.5 * len(delays)),
                           squeeze=False)
    for i, d in enumerate(delays):
        for row in rows:
            pts = sorted((r["conc"], r["rate"], r["p99_ms"]) for r in res
                         if r["row"] == row and r["delay"] == d)
            if not pts:
                continue
            xs = [p[0] for p in pts]
            ax[i][0].plot(xs, [p[1] for p in pts], marker="o", label=row)
            ax[i][1].plot(xs, [p[2] for p in pts], marker="o", label=row)
        ax[i][0].set_title("throughput, DNS delay %d ms" % d)
        ax[i][0].set_ylabel("messages/s (log scale)")
        ax[i][0].set_yscale("log")
        ax[i][1].set_title("p99 latency, DNS delay %d ms" % d)
        ax[i][1].set_ylabel("ms (log scale)")
        ax[i][1].set_yscale("log")
        for a in ax[i]:
            a.set_xscale("log", base=2)
            a.set_xticks([1, 8, 32])
            a.set_xticklabels(["1", "8", "32"])
            a.set_xlabel("concurrent sessions")
            a.grid(True, alpha=0.3)
    handles, labels = ax[0][0].get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=9)
    fig.savefig(path, dpi=80)


def main():
    if len(sys.argv) != 4 and not (len(sys.argv) == 5 and
                                   sys.argv[3] == "--section"):
        sys.exit("usage: report.py RESULTS.json BENCHMARKS.md "
                 "(PLOT.png | --section NAME)")
    section = sys.argv[4] if len(sys.argv) == 5 else "table"
    begin, end = BEGIN % section, END % section
    res = json.load(open(sys.argv[1]))
    md = open(sys.argv[2]).read()
    if begin not in md or end not in md:
        sys.exit("report.py: markers %s missing in %s" % (begin,
                                                           sys.argv[2]))
    head, rest = md.split(begin, 1)
    tail = rest.split(end, 1)[1]
    body = table(res) + targets(res) + costs(res)
    open(sys.argv[2], "w").write(head + begin + "\n" + "\n".join(body) +
                                 "\n" + end + tail)
    if section == "table":
        plot(res, sys.argv[3])


if __name__ == "__main__":
    main()
