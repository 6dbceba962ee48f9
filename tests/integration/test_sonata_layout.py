"""Spike output follows the SONATA layout: /spikes/<population>/{timestamps (ms), node_ids}, sorted by
time then id, with the 'sorting' enum attribute; a run on 2 ranks."""
import os

import h5py
import numpy as np

from common import Checker, mpi_command, parse_args, run

args = parse_args()
c = Checker()
out = os.path.join(args.work_dir, "coba.h5")
run(mpi_command(args, 2, "run", os.path.join(args.source_dir, "models/coba_benchmark.toml"),
                "--set", "run.duration_ms=250", "-o", out, "-q"))

with h5py.File(out, "r") as f:
    c.check("spikes" in f, "/spikes exists")
    sizes = {name: int(g.attrs["size"]) for name, g in f["network/populations"].items()}
    c.check(set(f["spikes"]) == {"E", "I"}, f"spike populations {set(f['spikes'])}")
    dt = float(f["metadata"].attrs["dt_ms"])
    duration = float(f["metadata"].attrs["duration_ms"])
    for pop, g in f["spikes"].items():
        t, ids = g["timestamps"], g["node_ids"]
        c.check(t.dtype == np.float64, f"{pop}: timestamps are float64 ({t.dtype})")
        c.check(ids.dtype == np.uint64, f"{pop}: node_ids are uint64 ({ids.dtype})")
        units = t.attrs.get("units")
        c.check(units in ("ms", b"ms"), f"{pop}: timestamps units = ms ({units!r})")
        sorting = h5py.check_enum_dtype(g.attrs.get_id("sorting").dtype)
        c.check(sorting == {"none": 0, "by_id": 1, "by_time": 2}, f"{pop}: sorting is the SONATA enum ({sorting})")
        c.check(int(g.attrs["sorting"]) == 2, f"{pop}: sorting = by_time")
        t, ids = t[()], ids[()]
        c.check(len(t) == len(ids) and len(t) > 100, f"{pop}: {len(t)} spikes, equal lengths")
        order = np.lexsort((ids, t))
        c.check(np.array_equal(order, np.arange(len(t))), f"{pop}: sorted by time then node id")
        c.check(ids.max() < sizes[pop], f"{pop}: node ids are population-local")
        c.check(t.min() >= 0 and t.max() < duration, f"{pop}: times inside the run")
        steps = t / dt
        c.check(np.allclose(steps, np.round(steps), atol=1e-9), f"{pop}: times on the dt grid")
        pairs = set(zip(t.tolist(), ids.tolist()))
        c.check(len(pairs) == len(t), f"{pop}: no duplicate spikes")
    config = f["metadata/config"][()]
    config = config.decode() if isinstance(config, bytes) else config
    c.check("[populations.E]" in config or "populations" in config, "resolved config stored")
    for key in ("plexus_version", "git_hash", "ranks", "threads", "wall_time_s", "seed"):
        c.check(key in f["metadata"].attrs, f"metadata has {key}")
    c.check(f["metadata/peak_rss_bytes"].shape == (2,), "peak memory of both ranks stored")

c.finish()
