"""Plexus from Python: build models, run and train them with the C++ engine, read and plot results.

    import plexus
    m = plexus.Model.from_toml("models/coba_benchmark.toml").set("run.duration_ms", 200)
    r = plexus.run(m)
    t, ids = r.spikes("exc")

Under `mpiexec -n R python3 script.py` every rank runs the script and the runs are distributed
(plexus.rank(), plexus.size()); mpi4py is not needed. docs/python.md has a tutorial.
"""

from .errors import ModelError, PlexusError, RunError, UsageError
from .model import Model
from .result import Result, read
from ._runtime import _core

__all__ = ["Model", "Result", "read", "run", "train", "resume", "plot", "rank", "size", "version",
           "ModelError", "UsageError", "RunError", "PlexusError"]

def version():
    return _core().version()


def plot(result, output=None, **options):
    """The figures plexus-plot draws for a result (a plexus.Result or a result file's path); returns the
    PNG files written. output: the PNG (default: beside the result file, or '<model>.png' in the working
    directory for a result held only in memory). options: start, stop (ms), populations ('A,B'),
    max_neurons, bin_ms, dpi."""
    import os

    from .figures import PlotError, options as plot_options, plot as draw  # matplotlib is loaded only here
    if isinstance(result, Result):
        name = result.path if result.path and os.path.exists(result.path) else None
        if output is None and name is None:
            output = f"{result.metadata.get('model', 'result')}.png"
        args = plot_options(result.file, output=output, name=name or output, **options)
    else:
        args = plot_options(os.fspath(result), output=output, name=os.fspath(result), **options)
    try:
        return draw(args)
    except PlotError as e:
        raise UsageError(str(e)) from None


from .run import resume, run, train, rank, size  # noqa: E402
