#!/usr/bin/python3
"""A straightforward NumPy implementation of the FORCE LIF network of SPEC 4.4, the peer of the
FORCE benchmark (tests/bench/force_lif.py).

Written from the SPEC equations, dense arrays as a NumPy user would write them: N LIF neurons
(tau_m dv/dt = -v + I, forward Euler, v_peak -40 mV, v_reset -65 mV, t_ref 2 ms, bias -40 mV),
static weights G omega0 (p = 0.1, N(0, 1) G / (p sqrt N), each row shifted to zero mean), encoders
Q eta with eta ~ U(-1, 1), double-exponential synapses (rise 2 ms, decay 20 ms, unit area in
seconds, sampled exactly like Plexus's filter), decoders by RLS every 50 steps:
    c = P r,  phi <- phi - c e,  P <- P - c c^T / (1 + r^T c),  P(0) = 0.1 dt I (dt in s).
Same step order as Plexus (train/force.cpp); different random numbers, so runs match
statistically, not spike for spike.

Prints one line "RESULT {json}" with wall and CPU time of the simulation loop, the RMS error
in the last training second, the worst test-window correlation at the best lag (+-100 ms), and
the rates. Run with /usr/bin/python3 (Debian's python3-numpy); BLAS is kept to one thread.
"""
import os

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402


def best_lag_correlation(y, x, lag):
    """max over |l| <= lag of corr(y[i], x[i + l]); x carries `lag` extra samples on both sides."""
    n = len(y)
    return max(np.corrcoef(y, x[lag + l:lag + l + n])[0, 1] for l in range(-lag, lag + 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--neurons", type=int, default=2000)
    ap.add_argument("--before-ms", type=float, default=5000.0)
    ap.add_argument("--train-ms", type=float, default=5000.0)
    ap.add_argument("--test-ms", type=float, default=5000.0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    rng = np.random.default_rng(a.seed)
    N, dt = a.neurons, 0.05  # ms
    tau_m, t_ref, v_reset, v_peak, bias = 10.0, 2.0, -65.0, -40.0, -40.0
    tau_r, tau_d = 2.0, 20.0
    G, Q, p, step = 0.04, 10.0, 0.1, 50
    p0 = 0.1 * dt * 1e-3
    n_ref = round(t_ref / dt)
    rise, fall = np.exp(-dt / tau_r), np.exp(-dt / tau_d)
    c = (fall - rise) / (tau_d - tau_r) * 1000.0  # kernel of unit area in seconds: r in Hz

    mask = rng.random((N, N)) < p
    np.fill_diagonal(mask, False)
    omega = np.where(mask, rng.standard_normal((N, N)) * G / (p * np.sqrt(N)), 0.0)
    for i in range(N):  # zero mean over each row's non-zero entries
        nz = mask[i]
        omega[i, nz] -= omega[i, nz].mean()
    E = Q * rng.uniform(-1.0, 1.0, N)
    v = rng.uniform(v_reset, 30.0, N)
    ref = np.zeros(N)
    ipsc, h = np.zeros(N), np.zeros(N)
    r, hr = np.zeros(N), np.zeros(N)
    phi = np.zeros(N)
    P = np.eye(N) * p0
    z = 0.0

    before, train, test = (round(x / dt) for x in (a.before_ms, a.train_ms, a.test_ms))
    total = before + train + test
    lag_steps = round(100.0 / dt)
    t_ms = (np.arange(total + lag_steps) + 1) * dt
    target = np.sin(2 * np.pi * 5.0 * t_ms * 1e-3)
    out = np.zeros(total)
    spikes = np.zeros(3)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for t in range(total):
        I = bias + ipsc + E * z
        free = ref <= 0
        v = np.where(free, v + dt / tau_m * (I - v), v)
        fired = v >= v_peak
        idx = np.flatnonzero(fired)
        v[fired] = v_reset
        ref = np.maximum(ref - 1, 0)
        ref[fired] = n_ref
        jd = omega[:, idx].sum(axis=1) if idx.size else 0.0
        ipsc = rise * ipsc + c * h
        h = fall * h + jd
        r = rise * r + c * hr
        hr = fall * hr + fired
        z = phi @ r
        out[t] = z
        spikes[0 if t < before else 1 if t < before + train else 2] += idx.size
        if before <= t < before + train and (t - before) % step == 0:
            e = z - target[t]
            cd = P @ r
            phi -= cd * e
            P -= np.outer(cd, cd) / (1.0 + r @ cd)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0

    last = slice(before + train - round(1000.0 / dt), before + train)
    rms = float(np.sqrt(np.mean((out[last] - target[last]) ** 2)))
    every = round(1.0 / dt)  # metrics on a 1-ms grid, like Plexus's traces
    y, x = out[every - 1::every], target[every - 1::every]
    w, lag = 1000, 100
    first = (before + train) // every
    corrs = [best_lag_correlation(y[s:s + w], x[s - lag:s + w + lag], lag)
             for s in range(first, len(y) - w + 1, w)]
    rates = [spikes[k] / (N * n * dt * 1e-3) if n else 0.0 for k, n in enumerate((before, train, test))]
    print("RESULT " + json.dumps({"wall_s": wall, "cpu_s": cpu, "train_rms": rms,
                                  "min_correlation": min(corrs) if corrs else None, "rates_hz": rates}))


if __name__ == "__main__":
    main()
