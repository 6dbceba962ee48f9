"""A real single-node Slurm for a test (cluster/local_slurm.sh), as a context manager, and helpers to
wait for its jobs."""
import os
import subprocess
import sys
import time


class LocalSlurm:
    def __init__(self, source_dir):
        self.cluster = os.path.join(source_dir, "cluster")
        self.env = dict(os.environ)

    def __enter__(self):
        up = subprocess.run([os.path.join(self.cluster, "local_slurm.sh"), "up"], capture_output=True, text=True)
        if up.returncode != 0:
            print(up.stdout, up.stderr)
            print("FAILED: local Slurm did not come up")
            sys.exit(1)
        for part in up.stdout.strip().split()[1:]:
            k, v = part.split("=", 1)
            self.env[k] = v
        self.env["PATH"] = self.env.get("PATH", "") + ":/usr/sbin"
        return self

    def __exit__(self, *exc):
        subprocess.run([os.path.join(self.cluster, "local_slurm.sh"), "down", self.env["PLEXUS_LOCAL_SLURM"]],
                       env=self.env)

    def run(self, cmd, **kw):
        return subprocess.run(cmd, capture_output=True, text=True, env=self.env, **kw)

    def active(self, jobs):
        """The jobs (ids; array jobs by their base id) still queued or running."""
        q = self.run(["squeue", "-h", "-o", "%i %T"]).stdout
        base = {line.split()[0].split("_")[0] for line in q.splitlines() if line.strip()}
        return [j for j in jobs if str(j) in base]

    def wait(self, jobs, limit_s=1800):
        """Waits until none of the jobs is queued or running (a generous safety limit, not a timing)."""
        deadline = time.time() + limit_s
        while self.active(jobs) and time.time() < deadline:
            time.sleep(2)
        return not self.active(jobs)
