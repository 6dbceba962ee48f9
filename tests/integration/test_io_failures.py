"""Clean failure on I/O errors. A file-size limit (RLIMIT_FSIZE, with SIGXFSZ ignored: writes past it
fail as on a full disk, deterministically and without mounting anything) makes the result file or a
checkpoint unwritable: the run ends with exit 1 and one line naming what failed and why, no crash in
HDF5's shutdown (exit 139 before), and no HDF5 error dump on stderr; a failed checkpoint says whether
an earlier one is there to resume from."""
import os
import resource
import signal
import subprocess

from common import Checker, parse_args

args = parse_args()
c = Checker()
model = os.path.join(args.source_dir, "models/coba_benchmark.toml")


def limited(limit, *cmd):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return subprocess.run([args.plexus, *cmd], capture_output=True, text=True, preexec_fn=apply,
                          cwd=args.work_dir)


r = limited(1 << 20, "run", model, "--set", "run.duration_ms=3000", "-o", "big.h5", "-q")
lines = [x for x in r.stderr.splitlines() if x.strip()]
c.check(r.returncode == 1, f"a result file that cannot grow: exit {r.returncode} (1 expected, 139 was a crash)")
c.check(len(lines) == 1 and "File too large" in lines[0] and "HDF5-DIAG" not in r.stderr,
        f"one line with the reason: {lines[:3]}")

r = limited(1 << 20, "run", model, "--set", "run.duration_ms=100", "-o", "ck.h5", "-q", "--checkpoint-dir", "ck",
            "--checkpoint-every", "20ms")
lines = [x for x in r.stderr.splitlines() if x.strip()]
c.check(r.returncode == 1, f"a checkpoint that cannot be written: exit {r.returncode}")
c.check(len(lines) == 1 and "writing the checkpoint at t = 20.0 ms failed" in lines[0] and
        "no earlier checkpoint" in lines[0], f"the message says so, and that there is none before: {lines[:3]}")
c.check(os.path.exists(os.path.join(args.work_dir, "ck.h5.partial")), "the .partial with the data so far is kept")
c.finish()
