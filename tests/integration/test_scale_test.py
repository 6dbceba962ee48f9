"""plexus scale-test (issue 5): per-rank bytes by structure, time per step and traffic; and the dry run
(one process playing one rank of an R-rank run, the other ranks' spikes synthesised) checked against
real runs at 2 and 4 ranks: the structures it builds must be the very ones the real rank builds, and the
projected traffic and communication buffers must be close to the measured ones."""
import json
import os

from common import Checker, mpi_command, parse_args, run

args = parse_args()
c = Checker()
w = args.work_dir
model = os.path.join(args.source_dir, "models/brunel_balanced.toml")
common = ["--neurons", "4000", "--steps", "1000"]

# Scaling holds the in-degree (fixed_indegree projections keep theirs) or the probability.
r = run([args.plexus, "scale-test", model, *common, "--json", os.path.join(w, "one.json")])
one = json.load(open(os.path.join(w, "one.json")))
c.check(one["neurons"] == 4000, f"--neurons sets the size ({one['neurons']})")
c.check(one["synapses"] == 4000 * 1250, f"in-degree held: 1250 inputs per neuron ({one['synapses']})")
c.check("bytes per synapse" in r.stdout and "time per step: exchange" in r.stdout, "the report has its rows")
bps = one["per_rank"]["bytes per synapse"][0]
c.check(8.0 <= bps < 8.2, f"about 8 bytes per static synapse ({bps:.3f})")
run([args.plexus, "scale-test", model, "--neurons", "4000", "--steps", "20", "--keep", "p", "--json",
     os.path.join(w, "p.json")])
p = json.load(open(os.path.join(w, "p.json")))
c.check(p["synapses"] == 4000 * 400, f"probability held: in-degrees scaled by 0.32 ({p['synapses']})")

for ranks in (2, 4):
    real_path = os.path.join(w, f"real{ranks}.json")
    run(mpi_command(args, ranks, "scale-test", model, *common, "--json", real_path))
    real = json.load(open(real_path))["per_rank"]
    c.check(len(real["synapses"]) == ranks, f"{ranks} ranks: one value per rank")
    for rank in range(ranks):
        dry_path = os.path.join(w, f"dry{ranks}_{rank}.json")
        run([args.plexus, "scale-test", model, *common, "--dry-run-ranks", str(ranks), "--dry-run-rank", str(rank),
             "--json", dry_path])
        dry = json.load(open(dry_path))["per_rank"]
        name = f"{ranks} ranks, rank {rank}"
        for key in ("neuron state", "synapses", "delay buffers", "local synapses"):
            c.check(dry[key][0] == real[key][rank], f"{name}: {key} as built by the real rank "
                                                     f"({dry[key][0]:.0f} vs {real[key][rank]:.0f})")
        # The synthesised spikes come from the rank's own rate estimate: traffic within 35 %, the
        # exchange buffers within a factor of two (they grow in powers of two).
        for key, tol in (("bytes received per step", 0.35), ("spikes received per step", 0.35)):
            d, m = dry[key][0], real[key][rank]
            c.check(abs(d - m) <= tol * m, f"{name}: {key} projected {d:.0f}, measured {m:.0f}")
        d, m = dry["communication buffers"][0], real["communication buffers"][rank]
        c.check(m / 2 <= d <= 2 * m, f"{name}: communication buffers projected {d:.0f} B, measured {m:.0f} B")
        d, m = dry["peak RSS"][0], real["peak RSS"][rank]
        print(f"{name}: peak RSS dry run {d / 2**20:.1f} MiB, real {m / 2**20:.1f} MiB (the real one includes the MPI runtime)")
c.finish()
