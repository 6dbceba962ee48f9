"""Integrity of results: every chunk a run appends carries a Fletcher-32 checksum. One flipped byte in a
stored chunk of spikes, samples or training curves of a .partial is found: `plexus verify` names the
dataset (exit 2), `plexus resume` refuses to carry the damaged file on (exit 2, nothing appended), and
`plexus inspect` says so in one line; with the byte restored, the resumed run ends identical to an
uninterrupted one, which `plexus verify --same-as` confirms (and refutes for another seed). A last chunk
torn after the checkpoint (bytes after the rows it counted) is repaired by resume from those rows, which
match the checkpoint's digest, and the run ends the same. Intact files verify with exit 0."""
import os
import shutil

import h5py
import numpy as np

from common import Checker, mpi_command, parse_args, run

args = parse_args()
c = Checker()
w = args.work_dir


def flip(path, dataset, at=5):
    """Flips one bit of the first stored chunk of `dataset` (byte 5: in its first row, which every
    checkpoint counts)."""
    with h5py.File(path, "r") as f:
        info = f[dataset].id.get_chunk_info(0)
    flip_at(path, info.byte_offset + at)


def tear(path, dataset):
    """Damages the last chunk of `dataset` after its last row, as a write cut short by a crash leaves it:
    its checksum fails, the rows before are intact. Returns False if the last chunk is full."""
    with h5py.File(path, "r") as f:
        d = f[dataset]
        n, rows_per_chunk = d.shape[0], d.chunks[0]
        if n % rows_per_chunk == 0:
            return False
        first = n - n % rows_per_chunk
        info = d.id.get_chunk_info_by_coord((first,) + (0,) * (d.ndim - 1))
        row_bytes = d.dtype.itemsize * (d.chunks[1] if d.ndim == 2 else 1)
    flip_at(path, info.byte_offset + (n - first) * row_bytes + 3)
    return True


def flip_at(path, offset):
    with open(path, "r+b") as g:
        g.seek(offset)
        b = g.read(1)[0]
        g.seek(offset)
        g.write(bytes([b ^ 0x10]))


def same(a, b, datasets):
    with h5py.File(a, "r") as x, h5py.File(b, "r") as y:
        return all(np.array_equal(x[d][()], y[d][()]) for d in datasets)


CASES = [
    ("run", ["run", os.path.join(args.source_dir, "models/coba_benchmark.toml"), "--set", "run.duration_ms=100"],
     ["--stop-at-ms", "60", "--checkpoint-every", "20ms"], ["/spikes/E/timestamps", "/samples/E/V_m"]),
    ("train", ["train", os.path.join(args.source_dir, "models/tmaze_mouse100.toml"), "--set", "train.iterations=6",
               "--set", "train.batch_size=2", "--set", "train.validation_every=2", "--set", "train.validation_trials=2",
               "--set", "train.test_trials=2"],
     ["--stop-at-iteration", "3"], ["/training/loss"]),
]
for name, cmd, stop, datasets in CASES:
    ref = os.path.join(w, f"{name}_ref.h5")
    run(mpi_command(args, 2, *cmd, "-q", "-o", ref))
    r = run([args.plexus, "verify", ref])
    c.check("intact" in r.stdout, f"{name}: an intact result verifies ({r.stdout.strip()})")
    for dataset in datasets:
        out = os.path.join(w, f"{name}.h5")
        ck = os.path.join(w, f"{name}_ck")
        shutil.rmtree(ck, ignore_errors=True)
        for f in (out, out + ".partial"):
            if os.path.exists(f):
                os.remove(f)
        run(mpi_command(args, 2, *cmd, "-q", "-o", out, "--checkpoint-dir", ck, *stop))
        partial = out + ".partial"
        good = os.path.join(w, "good.partial")
        shutil.copy(partial, good)
        flip(partial, dataset)
        r = run([args.plexus, "verify", partial], expect=2)
        c.check(dataset in r.stderr and "Fletcher32" in r.stderr,
                f"{name}, {dataset}: verify names the damaged dataset ({r.stderr.strip()[:200]})")
        damaged = open(partial, "rb").read()
        r = run(mpi_command(args, 2, "resume", ck, "-q"), expect=2)
        c.check("is damaged" in r.stderr and dataset in r.stderr,
                f"{name}, {dataset}: resume refuses the damaged .partial ({r.stderr.strip()[:200]})")
        c.check(open(partial, "rb").read() == damaged and not os.path.exists(out),
                f"{name}, {dataset}: nothing was appended or renamed")
        r = run([args.plexus, "inspect", partial], expect=2)
        lines = [x for x in r.stderr.splitlines() if x.strip()]
        c.check(len(lines) == 1 and "damaged" in lines[0] and "HDF5-DIAG" not in r.stderr,
                f"{name}, {dataset}: inspect refuses in one line ({lines[:1]})")
        shutil.copy(good, partial)
        run(mpi_command(args, 1, "resume", ck, "-q"))
        c.check(same(ref, out, datasets), f"{name}, {dataset}: with the byte restored, the resumed run equals "
                                          "the uninterrupted one")
        # `plexus verify --same-as`: the resumed 1-rank run holds the same record as the 2-rank reference.
        r = run([args.plexus, "verify", out, "--same-as", ref])
        c.check("same as" in r.stdout, f"{name}, {dataset}: verify --same-as finds them equal ({r.stdout.strip()})")

        # A torn last chunk (written again after the checkpoint, cut by a crash): the rows the checkpoint
        # counted match its digest, so resume rewrites the chunk from them and carries on.
        os.remove(out)
        shutil.rmtree(ck)
        run(mpi_command(args, 2, *cmd, "-q", "-o", out, "--checkpoint-dir", ck, *stop))
        if not tear(partial, dataset):
            continue
        r = run([args.plexus, "verify", partial], expect=2)
        c.check("Fletcher32" in r.stderr, f"{name}, {dataset}: the torn chunk fails its checksum")
        r = run(mpi_command(args, 2, "resume", ck))
        c.check(f"repaired {dataset}" in r.stdout, f"{name}, {dataset}: resume repairs the torn last chunk "
                                                   f"({r.stdout.strip()[-300:]} {r.stderr.strip()[-300:]})")
        r = run([args.plexus, "verify", out, "--same-as", ref])
        c.check("same as" in r.stdout, f"{name}, {dataset}: and ends the same as the uninterrupted run")

# --same-as on records that differ: another seed (exit 1, the datasets named), a damaged file (exit 2).
ref = os.path.join(w, "run_ref.h5")
other = os.path.join(w, "run_seed9.h5")
run(mpi_command(args, 1, *CASES[0][1], "--set", "network.seed=9", "-q", "-o", other))
r = run([args.plexus, "verify", other, "--same-as", ref], expect=1)
c.check("differs" in r.stdout and "/spikes/E/timestamps" in r.stdout,
        f"verify --same-as names what differs ({r.stdout.strip()[:300]})")
flipped = os.path.join(w, "run_flipped.h5")
shutil.copy(ref, flipped)
flip(flipped, "/samples/E/V_m")
r = run([args.plexus, "verify", flipped, "--same-as", ref], expect=2)
c.check("damaged" in r.stderr and "/samples/E/V_m" in r.stderr,
        f"verify --same-as refuses a damaged file ({r.stderr.strip()[:300]})")
c.finish()
