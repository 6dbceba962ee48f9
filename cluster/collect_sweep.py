#!/usr/bin/env python3
"""Tabulates a parameter sweep (cluster/submit_sweep.sh): one row per array task, with its parameter set
(read from the result file's /metadata/overrides, or from the sweep file for a task without one) and
what the task measured:
  plain runs:      rate_hz:<population> for every population, spikes, wall_time_s
  gradient runs:   iterations, final loss and accuracy (mean of the last 10% of iterations),
                   best validation accuracy, test accuracy
  FORCE:           mean test correlation; tempotron, equilibrium: test accuracy
and a status: done, unfinished (a .partial file: the task failed or still runs), missing.

    cluster/collect_sweep.py DIR [-o TABLE.csv]     (default DIR/sweep.csv)
Then `plexus-plot DIR/sweep.csv` draws the measures against the swept parameters."""
import argparse
import csv
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sweep  # noqa: E402  (cluster/sweep.py: the sweep file format)


def sweep_sets(directory):
    """The sweep file's sets, as key -> value text (as --set takes it), in task order."""
    path = os.path.join(directory, "sweep.toml")
    return [{k: sweep.literal(v, k) for k, v in st.items()} for st in sweep.load(path)]


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def tail_mean(ds):
    v = np.asarray(ds[()], dtype=float)
    if v.size == 0:
        return ""
    return float(np.mean(v[-max(1, v.size // 10):]))


def measures(f):
    m = {}
    meta = f["metadata"].attrs if "metadata" in f else {}
    if "wall_time_s" in meta:
        m["wall_time_s"] = float(meta["wall_time_s"])
    pops = f["network/populations"] if "network/populations" in f else {}
    for name in pops:
        if "rate_hz" in pops[name].attrs:
            m[f"rate_hz:{name}"] = float(pops[name].attrs["rate_hz"])
    if "training" in f:
        t = f["training"]
        if "iterations" in t.attrs:
            m["iterations"] = int(t.attrs["iterations"])
        for key in ("loss", "accuracy", "cost"):
            if key in t and t[key].shape[0] > 0:
                m[f"final_{key}"] = tail_mean(t[key])
    if "validation/accuracy" in f and f["validation/accuracy"].shape[0] > 0:
        m["best_validation_accuracy"] = float(np.max(f["validation/accuracy"][()]))
    if "test" in f and "accuracy" in f["test"].attrs:
        m["test_accuracy"] = float(f["test"].attrs["accuracy"])
    if "force/metrics/correlation" in f:
        m["test_correlation"] = float(np.mean(f["force/metrics/correlation"][()]))
    return m


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("dir", help="the sweep directory (submit_sweep.sh --dir)")
    p.add_argument("-o", "--output", help="the CSV table (default DIR/sweep.csv)")
    a = p.parse_args()
    if not os.path.isfile(os.path.join(a.dir, "sweep.toml")):
        sys.exit(f"collect_sweep.py: '{a.dir}' is not a sweep directory (no sweep.toml)")
    sets = sweep_sets(a.dir)
    rows, names = [], []
    keys = list(dict.fromkeys(k for st in sets for k in st))  # the swept keys first, then other overrides
    for i, default in enumerate(sets):
        base = os.path.join(a.dir, f"task-{i}.h5")
        row = {"task": i}
        params = dict(default)
        path = base if os.path.exists(base) else base + ".partial" if os.path.exists(base + ".partial") else None
        row["status"] = "missing" if path is None else "done" if path == base else "unfinished"
        if path:
            try:
                with h5py.File(path, "r") as f:
                    if "metadata/overrides" in f:
                        given = text(f["metadata/overrides"][()])
                        params = dict(l.split("=", 1) for l in given.splitlines() if "=" in l)
                    row.update(measures(f))
            except OSError as e:
                row["status"] = f"unreadable ({e})"
        for k, v in params.items():
            row[k] = v
            if k not in keys:
                keys.append(k)
        for k in row:
            if k not in ("task", "status") and k not in params and k not in names:
                names.append(k)
        rows.append(row)
    out = a.output or os.path.join(a.dir, "sweep.csv")
    columns = ["task", "status"] + keys + names
    with open(out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns, restval="")
        w.writeheader()
        w.writerows(rows)
    # The table on the terminal as well, rounded.
    def show(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)
    widths = [max(len(c), *(len(show(r.get(c, ""))) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for r in rows:
        print("  ".join(show(r.get(c, "")).ljust(w) for c, w in zip(columns, widths)))
    done = sum(r["status"] == "done" for r in rows)
    print(f"{done} of {len(rows)} tasks done; table in {out}")
    return 0 if done == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
