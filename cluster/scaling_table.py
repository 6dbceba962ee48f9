#!/usr/bin/python3
"""Markdown table of `plexus scale-test --json` files (one directory, e.g. from cluster/scaling_sweep.sh):
per-rank memory by structure (largest rank), bytes per synapse, traffic and time per step."""
import glob
import json
import os
import sys

MiB = 2.0 ** 20
cols = [("neuron state", MiB, "{:.2f}"), ("synapses", MiB, "{:.1f}"), ("delay buffers", MiB, "{:.2f}"),
        ("communication buffers", MiB, "{:.3f}"), ("HDF5 buffers (recorder)", MiB, "{:.2f}"), ("peak RSS", MiB, "{:.1f}"),
        ("bytes per synapse", 1, "{:.2f}"), ("bytes received per step", 1024, "{:.1f}"),
        ("time per step: compute", 1, "{:.2f}"), ("time per step: exchange", 1, "{:.3f}")]
heads = ["neuron state MiB", "synapses MiB", "delay buffers MiB", "comm. buffers MiB", "HDF5 buffers MiB",
         "peak RSS MiB", "bytes / synapse", "KiB received / step", "compute ms / step", "exchange ms / step"]
for d in sys.argv[1:]:
    pts = [json.load(open(p)) for p in glob.glob(os.path.join(d, "*.json"))]
    pts.sort(key=lambda p: (p["ranks"], p["neurons"]))
    print(f"\n{os.path.basename(d.rstrip('/'))}: {pts[0]['model']}, {pts[0]['steps']} steps, "
          f"{'dry run (rank 0 of R)' if pts[0]['dry_run'] else 'measured, largest rank'}\n")
    print("| ranks | neurons | synapses | " + " | ".join(heads) + " |")
    print("|" + "---:|" * (3 + len(heads)))
    for p in pts:
        r = p["per_rank"]
        vals = [fmt.format(max(r[k]) / scale) for k, scale, fmt in cols]
        print(f"| {p['ranks']} | {p['neurons']:,} | {p['synapses']:,} | " + " | ".join(vals) + " |")
