"""plexus inspect describes a result file; plexus-plot draws it to PNG."""
import os
import subprocess

from common import Checker, mpi_command, parse_args, run

args = parse_args()
c = Checker()
out = os.path.join(args.work_dir, "coba.h5")
run(mpi_command(args, 2, "run", os.path.join(args.source_dir, "models/coba_benchmark.toml"),
                "--set", "run.duration_ms=200", "-o", out, "-q"))
r = run([args.plexus, "inspect", out])
for needle in ("coba_benchmark", "2 rank(s)", "populations:", "lif_coba", "spikes (SONATA)", "by_time",
               "/samples/E/V_m", "float64"):
    c.check(needle in r.stdout, f"inspect output mentions {needle!r}")

plot = os.path.join(os.path.dirname(args.plexus), "plexus-plot")
png = os.path.join(args.work_dir, "coba.png")
r = subprocess.run([plot, out, "-o", png], capture_output=True, text=True)
c.check(r.returncode == 0, f"plexus-plot exit code {r.returncode}: {r.stderr[-500:]}")
c.check(os.path.exists(png) and open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n", "a PNG was written")
c.check(os.path.getsize(png) > 20000 if os.path.exists(png) else False, "the PNG is not empty")
r = subprocess.run([plot, os.path.join(args.work_dir, "absent.h5")], capture_output=True, text=True)
c.check(r.returncode == 2 and "error" in r.stderr, "plexus-plot of a missing file: exit 2 with a message")
c.finish()
