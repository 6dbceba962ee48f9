"""Run by test_mpi.py on 1 and on 2 ranks: every rank calls the same functions, rank 0 saves what came
out (spikes of a run, curves and trained weights of a training) to the .npz named on the command line."""
import sys

import numpy as np

import plexus

out, models = sys.argv[1], sys.argv[2]
m = plexus.Model.from_toml(f"{models}/coba_benchmark.toml").set("run.duration_ms", 100)
r = plexus.run(m, quiet=True)
stops = []
t = plexus.Model.from_toml(f"{models}/eprop_evidence100.toml").update(
    {"train.iterations": 4, "train.batch_size": 8, "train.validation_trials": 16, "train.test_trials": 16})
# Rank 0's answer counts: the other ranks say "go on", yet all stop after iteration 2.
trained = plexus.train(t, quiet=True, on_iteration=lambda i, v: stops.append(i) or plexus.rank() != 0 or i < 2)
if plexus.rank() == 0:
    np.savez(out, size=plexus.size(), E_t=r.spikes("E")[0], E_id=r.spikes("E")[1], I_t=r.spikes("I")[0],
             I_id=r.spikes("I")[1], loss=trained.training["loss"], rec=trained.weights("rec_rec")[2],
             ranks=trained.metadata["ranks"], calls=len(stops))
