"""The compiled module and the process's session, created on first use."""

import atexit

_state = {}


def _core():
    """The compiled module (imported on first use: reading and plotting results do not need it)."""
    if "core" not in _state:
        try:
            from . import _plexus
        except ImportError as e:
            raise ImportError(f"plexus: the compiled module _plexus is missing or does not load ({e}); build "
                              "the project with the Python interface (PLEXUS_PYTHON=ON, the default)") from e
        _state["core"] = _plexus
    return _state["core"]


def _session():
    """The process's session: MPI is initialised on first use (when started by an MPI launcher) and
    finalised at exit."""
    if "session" not in _state:
        s = _core().Session()
        _state["session"] = s
        atexit.register(s.close)
    return _state["session"]
