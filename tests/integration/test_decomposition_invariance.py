"""The COBA and Brunel networks give byte-identical spike datasets (and samples) for 1, 2 and 4 ranks
times 1 and 2 threads (issue: decomposition invariance)."""
import hashlib
import os

import h5py

from common import Checker, mpi_command, parse_args, run

args = parse_args()
c = Checker()

cases = {
    "coba": ["models/coba_benchmark.toml", "--set", "run.duration_ms=400"],
    # Brunel scaled down by 5 (drive unchanged; see the model file).
    "brunel": ["models/brunel_balanced.toml", "--set", "run.duration_ms=300",
               "--set", "populations.E.size=2000", "--set", "populations.I.size=500",
               "--set", "projections.EE.indegree=200", "--set", "projections.EI.indegree=200",
               "--set", "projections.IE.indegree=50", "--set", "projections.II.indegree=50"],
}

for name, model_args in cases.items():
    digests = {}
    model_args = [os.path.join(args.source_dir, model_args[0])] + model_args[1:]
    for ranks in (1, 2, 4):
        for threads in (1, 2):
            out = os.path.join(args.work_dir, f"{name}_{ranks}x{threads}.h5")
            run(mpi_command(args, ranks, "run", *model_args, "-o", out, "-q", "--threads", str(threads)))
            with h5py.File(out, "r") as f:
                h = hashlib.sha256()
                n = 0
                for pop in sorted(f["spikes"]):
                    for ds in ("timestamps", "node_ids"):
                        data = f[f"spikes/{pop}/{ds}"][()]
                        h.update(pop.encode() + ds.encode() + data.tobytes())
                    n += f[f"spikes/{pop}/node_ids"].shape[0]
                for pop in sorted(f.get("samples", {})):
                    for var in sorted(f[f"samples/{pop}"]):
                        h.update(f[f"samples/{pop}/{var}"][()].tobytes())
                c.check(f["metadata"].attrs["ranks"] == ranks, f"{name}: metadata ranks")
                c.check(f["metadata"].attrs["threads"] == threads, f"{name}: metadata threads")
            digests[(ranks, threads)] = (h.hexdigest(), n)
            print(f"{name} {ranks} rank(s) x {threads} thread(s): {n} spikes, sha256 {h.hexdigest()[:16]}")
    reference = digests[(1, 1)]
    c.check(reference[1] > 1000, f"{name}: the network is active ({reference[1]} spikes)")
    for key, d in digests.items():
        c.check(d == reference, f"{name}: {key[0]} rank(s) x {key[1]} thread(s) differ from 1 x 1")

c.finish()
