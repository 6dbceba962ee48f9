#!/usr/bin/python3
"""Upper bounds for the evidence-accumulation task (SPEC 3.1): the accuracy of ideal observers that
see every input spike of a trial. One counts spikes on the left and right cue channels (what a
linear integrator can do); the other counts cues (a cue counts if it produced at least one spike),
which needs a nonlinearity per cue. Cue spike counts are Poisson with mean G * rate * cue length.

    /usr/bin/python3 tests/bench/evidence_ideal_observer.py --group 10 --cue-ms 18      # mouse
    /usr/bin/python3 tests/bench/evidence_ideal_observer.py --group 10 --cue-ms 100     # eprop
    /usr/bin/python3 tests/bench/evidence_ideal_observer.py --group 25 --cue-ms 100     # cortex
"""
import argparse

import numpy as np

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--group", type=int, default=10, help="channels per cue group")
p.add_argument("--cue-ms", type=float, default=18.0)
p.add_argument("--rate-hz", type=float, default=40.0)
p.add_argument("--cues", type=int, default=7)
p.add_argument("--majority-p", type=float, default=0.7)
p.add_argument("--trials", type=int, default=400000)
p.add_argument("--seed", type=int, default=1)
a = p.parse_args()

rng = np.random.default_rng(a.seed)
lam = a.group * a.rate_hz * a.cue_ms * 1e-3
n = a.trials
right_major = rng.random(n) < 0.5
right = np.where(rng.random((n, a.cues)) < a.majority_p, right_major[:, None], ~right_major[:, None])
label = right.sum(1) > a.cues // 2
counts = rng.poisson(lam, (n, a.cues))


def accuracy(r, l):
    tie = r == l
    decision = np.where(tie, rng.random(n) < 0.5, r > l)
    return (decision == label).mean()


spikes = accuracy((counts * right).sum(1), (counts * ~right).sum(1))
cues = accuracy(((counts > 0) * right).sum(1), ((counts > 0) * ~right).sum(1))
print(f"{a.group} channels x {a.rate_hz:g} Hz x {a.cue_ms:g} ms per cue (mean {lam:.2f} spikes), {a.cues} cues, "
      f"majority p {a.majority_p}: spike-count observer {spikes:.4f}, cue-count observer {cues:.4f} "
      f"({n} trials)")
