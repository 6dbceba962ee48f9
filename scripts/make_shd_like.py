#!/usr/bin/env python3
"""A small data set in the layout of the Spiking Heidelberg Digits (Cramer et al. 2020): per trial,
/spikes/times (seconds, float32) and /spikes/units (uint16) as variable-length arrays, and /labels
(uint8). The real set (700 cochlear channels, 20 spoken digits) is not packaged here; this one has
`units` channels and `classes` "words", each a sequence of three "syllables": a syllable is a burst
of one block of units in one time slot, and a class is its order of blocks. Classes share blocks,
so the order in time tells them apart as well as the blocks do. Every trial moves the whole word
by up to +-8 ms, thins the bursts and adds background spikes; units are refractory for 2 ms, so no
two spikes of a unit fall in the same 1-ms step."""
import h5py
import numpy as np

SLOTS_MS = ((10, 40), (50, 80), (90, 120))


def words(classes, blocks, rng):
    """Each class's three blocks, drawn once: different classes differ in at least one slot."""
    seen, out = set(), []
    while len(out) < classes:
        w = tuple(int(b) for b in rng.choice(blocks, size=3, replace=False))
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


def trial(word, units, block, rng, rate_hz=120.0, background_hz=4.0, duration_ms=150.0):
    times, ids = [], []
    shift = rng.uniform(-8.0, 8.0)
    for u in range(units):
        spikes = list(rng.uniform(0, duration_ms, rng.poisson(background_hz * duration_ms / 1000.0)))
        for slot, b in zip(SLOTS_MS, word):
            if b * block <= u < (b + 1) * block:
                lo, hi = slot[0] + shift, slot[1] + shift
                spikes += list(rng.uniform(lo, hi, rng.poisson(rate_hz * (hi - lo) / 1000.0)))
        kept, last, last_step = [], -10.0, -1
        for t in sorted(s for s in spikes if 0.0 <= s < duration_ms):
            # The time as stored (float32 seconds) and the 1-ms step Plexus puts it in.
            stored = float(np.float32(t / 1000.0))
            step = int(np.floor(stored * 1000.0 + 1e-9))
            if t - last >= 2.0 and step != last_step:  # refractory, and one spike per 1-ms step
                kept.append(stored)
                last, last_step = t, step
        times += kept
        ids += [u] * len(kept)
    order = np.argsort(times, kind="stable")
    return np.asarray(times)[order], np.asarray(ids)[order]


def write(path, trials, classes=4, units=60, block=10, seed=7):
    """Writes `trials` trials with labels 0 .. classes - 1 (balanced, in a shuffled order)."""
    rng = np.random.default_rng(seed)
    ws = words(classes, units // block, rng)
    labels = np.arange(trials) % classes
    rng.shuffle(labels)
    with h5py.File(path, "w") as f:
        t = f.create_dataset("spikes/times", (trials,), dtype=h5py.vlen_dtype(np.float32))
        u = f.create_dataset("spikes/units", (trials,), dtype=h5py.vlen_dtype(np.uint16))
        for k, label in enumerate(labels):
            times, ids = trial(ws[label], units, block, rng)
            t[k] = times.astype(np.float32)
            u[k] = ids.astype(np.uint16)
        f["labels"] = labels.astype(np.uint8)
        f["extra/keys"] = np.arange(trials)  # SHD's speaker metadata lives beside the spikes
    return labels


if __name__ == "__main__":
    import argparse
    import os
    p = argparse.ArgumentParser(description="Writes a small data set in the Spiking Heidelberg Digits layout "
                                            "(models/shd_like.toml trains on it).")
    p.add_argument("output", nargs="?", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                             "..", "models", "data", "shd_like.h5"))
    p.add_argument("--trials", type=int, default=600)
    p.add_argument("--classes", type=int, default=4)
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args()
    os.makedirs(os.path.dirname(os.path.abspath(a.output)), exist_ok=True)
    write(a.output, a.trials, classes=a.classes, seed=a.seed)
    print(f"wrote {a.trials} trials of {a.classes} classes to {os.path.normpath(a.output)}")
