"""Running: the same run shell as `plexus run`, `plexus train` and `plexus resume` (result file, progress
lines, checkpoints), driven from Python. Under `mpiexec -n R python3 script.py` every rank calls these
functions with the same arguments, as in PyNEST; the run is then distributed over the R ranks."""

import os
import shutil
import tempfile

from ._runtime import _session
from .errors import RunError, UsageError
from .model import Model
from .result import load


def rank():
    """This process's rank (0 without MPI)."""
    return _session().rank


def size():
    """The number of ranks (1 without MPI)."""
    return _session().size


def _model(m):
    if isinstance(m, Model):
        return m
    if isinstance(m, dict):
        return Model.from_dict(m)
    if isinstance(m, (str, os.PathLike)):
        return Model.from_toml(m)
    raise UsageError(f"expected a plexus.Model, a dict or a model file's path, not {type(m).__name__}")


def _options(output, threads, quiet, checkpoint_dir, checkpoint_every, checkpoint_keep, stop_at_ms=None,
             stop_at_iteration=None, batch_groups=None):
    return {"output": None if output is None else os.fspath(output), "threads": threads, "quiet": quiet,
            "checkpoint_dir": None if checkpoint_dir is None else os.fspath(checkpoint_dir),
            "checkpoint_every": checkpoint_every, "checkpoint_keep": checkpoint_keep, "stop_at_ms": stop_at_ms,
            "stop_at_iteration": stop_at_iteration, "batch_groups": batch_groups}


def _temporary_output(session, name):
    """A result file for a run that was given none: in a temporary directory (the same path on every
    rank: rank 0 makes it in the working directory, which the ranks share), removed after reading."""
    where = ""
    if session.rank == 0:
        where = tempfile.mkdtemp(prefix=".plexus-result-", dir=os.getcwd() if session.size > 1 else None)
    where = session.broadcast(where)
    return where, os.path.join(where, f"{name}.h5")


def _go(command, model, output, options, on_iteration):
    session = _session()
    m = _model(model)
    temporary = None
    if output is None:
        if options.get("checkpoint_dir"):
            raise UsageError("a checkpointed run needs an output file: give output=...")
        temporary, output = _temporary_output(session, m.network_name)
    options["output"] = os.fspath(output)
    callback = None
    if on_iteration is not None:
        def callback(iteration, values):
            answer = on_iteration(iteration, dict(values))
            return answer is None or bool(answer)
    try:
        code = session.start(command, m.text, m.name, m.base_dir, m.overrides, options, callback)
        if code != 0:
            raise RunError(f"plexus {command} of {m.name} ended with exit code {code}")
        session.barrier()
        path = options["output"]
        if not os.path.exists(path) and os.path.exists(path + ".partial"):
            path += ".partial"  # stopped at a checkpoint (stop_at_*): the unfinished file
        return load(path, exit_code=code, keep_path=temporary is None)
    finally:
        if temporary is not None:
            session.barrier()
            if session.rank == 0:
                shutil.rmtree(temporary, ignore_errors=True)


def run(model, output=None, threads=1, quiet=False, checkpoint_dir=None, checkpoint_every=None, checkpoint_keep=None,
        stop_at_ms=None):
    """Simulates a model (a plexus.Model, a dict or a model file's path), as `plexus run` does.

    output: the result file (default: none kept; the Result holds the data in memory). threads:
    OpenMP threads per rank. quiet: no progress lines. checkpoint_dir/every/keep, stop_at_ms: as the
    command line's options. Returns a plexus.Result.
    """
    return _go("run", model, output,
               _options(output, threads, quiet, checkpoint_dir, checkpoint_every, checkpoint_keep, stop_at_ms=stop_at_ms),
               None)


def train(model, output=None, threads=1, quiet=False, on_iteration=None, batch_groups=None, checkpoint_dir=None,
          checkpoint_every=None, checkpoint_keep=None, stop_at_iteration=None):
    """Trains a model with its [train] rule on its [task], as `plexus train` does.

    on_iteration(iteration, values): called after every iteration (counted from 1) with what the
    progress line shows (loss, accuracy, rate_hz, grad_norm, seconds, and validation_accuracy /
    validation_loss when validated). Returning False ends the training there; the run then finishes
    (test trials, trained weights, result file) with the iterations done. Under MPI it is called on
    every rank and rank 0's answer counts. Gradient training (e-prop, D-RTRL, ES-D-RTRL, reward) calls it.
    batch_groups: groups of ranks that each run a share of a batch (default: auto). Returns a
    plexus.Result.
    """
    return _go("train", model, output,
               _options(output, threads, quiet, checkpoint_dir, checkpoint_every, checkpoint_keep,
                        stop_at_iteration=stop_at_iteration, batch_groups=batch_groups),
               on_iteration)


def resume(checkpoint, output=None, threads=1, quiet=False, on_iteration=None):
    """Continues a run from its newest checkpoint (a --checkpoint-dir, or one checkpoint), on any number
    of ranks, as `plexus resume` does; returns the Result of the whole run."""
    session = _session()
    checkpoint = os.fspath(checkpoint)
    if not os.path.exists(checkpoint):
        raise UsageError(f"no such checkpoint or checkpoint directory: {checkpoint}")
    options = _options(output, threads, quiet, None, None, None)
    callback = None
    if on_iteration is not None:
        def callback(iteration, values):
            answer = on_iteration(iteration, dict(values))
            return answer is None or bool(answer)
    code = session.resume(checkpoint, options, callback)
    if code != 0:
        raise RunError(f"plexus resume of {checkpoint} ended with exit code {code}")
    session.barrier()
    finished = os.path.join(checkpoint, "finished")
    path = output
    if path is None and os.path.isfile(finished):
        with open(finished) as f:
            path = f.readline().strip()
    if path is None:
        raise RunError(f"cannot tell which result file the run of {checkpoint} wrote; give output=...")
    return load(path if os.path.exists(path) else path + ".partial", exit_code=code)
