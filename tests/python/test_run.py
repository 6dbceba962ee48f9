"""Runs from Python against the command line, NumPy inputs, results in memory, figures."""
import os
import subprocess

import h5py
import numpy as np
import pytest

import plexus
from conftest import PLEXUS_BIN, model_path


def test_spikes_identical_to_the_command_line(workdir):
    """coba_benchmark, 200 ms, the same seed: the same spikes, to the bit."""
    cli = workdir / "cli.h5"
    subprocess.run([PLEXUS_BIN, "run", model_path("coba_benchmark.toml"), "--set", "run.duration_ms=200",
                    "--set", "network.seed=11", "-q", "-o", str(cli)], check=True, capture_output=True)
    m = plexus.Model.from_toml(model_path("coba_benchmark.toml")).set("run.duration_ms", 200).set("network.seed", 11)
    r = plexus.run(m, quiet=True, output=workdir / "py.h5")
    assert os.path.exists(workdir / "py.h5")  # the file is still written when asked for
    with h5py.File(cli, "r") as f:
        for pop in ("E", "I"):
            t, ids = r.spikes(pop)
            assert len(t) > 1000
            assert np.array_equal(t, f[f"spikes/{pop}/timestamps"][()])
            assert np.array_equal(ids, f[f"spikes/{pop}/node_ids"][()])
    # In-memory access does not need the file.
    os.remove(workdir / "py.h5")
    assert r.rates("E") == pytest.approx(len(r.spikes("E")[0]) / 3200 / 0.2)


def test_numpy_spike_trains_and_connections(workdir):
    """Input spikes and synapses from arrays: a parrot population repeats each input spike after the
    delay of its own synapse."""
    d = {"model": {"name": "np_inputs"}, "run": {"duration_ms": 60.0, "dt_ms": 1.0}, "network": {"seed": 3},
         "populations": {"src": {"model": "spike_source", "size": 5}, "par": {"model": "parrot", "size": 5}},
         "projections": {"sp": {"source": "src", "target": "par", "rule": "all_to_all", "weight": 1.0,
                                "delay_ms": 2.0}}}
    m = plexus.Model.from_dict(d)
    m.set_spike_trains("src", np.array([20.0, 10.0, 12.0, 30.0]), np.array([4, 0, 3, 3]))
    # Each source to the parrot two places on, with delays 1..5 ms.
    m.set_connections("sp", np.arange(5), (np.arange(5) + 2) % 5, delay_ms=np.arange(1.0, 6.0), weight=1.0)
    r = plexus.run(m, quiet=True)
    t, ids = r.spikes("par")
    got = sorted(zip(t.tolist(), ids.tolist()))
    # source 0 at 10 -> parrot 2 at 11; source 3 at 12, 30 -> parrot 0 at 16, 34; source 4 at 20 -> parrot 1 at 25.
    assert got == [(11.0, 2), (16.0, 0), (25.0, 1), (34.0, 0)]
    with pytest.raises(plexus.UsageError):
        m.set_connections("sp", np.arange(3), np.arange(4))
    with pytest.raises(plexus.UsageError):
        m.set_spike_trains("src", np.array([-1.0]), np.array([0]))


def test_numpy_weights_are_the_network_weights(workdir):
    d = {"model": {"name": "np_weights"}, "run": {"duration_ms": 5.0, "dt_ms": 0.1}, "network": {"seed": 3},
         "populations": {"a": {"model": "lif_cuba", "size": 30}, "b": {"model": "lif_cuba", "size": 20}},
         "projections": {"ab": {"source": "a", "target": "b", "rule": "all_to_all", "weight": 1.0, "delay_ms": 1.0,
                                "receptor": "exc"}},
         "record": {"weights": {"ab": {"times_ms": [0.0]}}}}
    rng = np.random.default_rng(0)
    src = rng.integers(0, 30, 200)
    tgt = rng.integers(0, 20, 200)
    w = rng.normal(0.0, 1.0, 200)
    m = plexus.Model.from_dict(d).set_connections("ab", src, tgt, weight=w)
    r = plexus.run(m, quiet=True)
    s, t, got = r.weights("ab", "initial")
    # The engine stores static weights in single precision.
    mine = sorted(zip(src.tolist(), tgt.tolist(), w.astype(np.float32).tolist()))
    theirs = sorted(zip(s.tolist(), t.tolist(), got.tolist()))
    assert len(theirs) == 200 and theirs == mine


def test_read_gives_the_same_result(workdir):
    m = plexus.Model.from_toml(model_path("coba_benchmark.toml")).set("run.duration_ms", 50)
    r = plexus.run(m, quiet=True, output="coba.h5")
    again = plexus.read("coba.h5")
    assert np.array_equal(r.spikes("E")[0], again.spikes("E")[0])
    assert again.metadata["model"] == "coba_benchmark" and again.finished
    assert r.metadata["ranks"] == 1 and "config" in r.metadata
    with pytest.raises(plexus.UsageError):
        plexus.read("missing.h5")
    with pytest.raises(KeyError):
        r.spikes("nope")


def test_checkpoint_stop_and_resume(workdir):
    m = plexus.Model.from_toml(model_path("coba_benchmark.toml")).set("run.duration_ms", 100)
    whole = plexus.run(m, quiet=True)
    part = plexus.run(m, quiet=True, output="c.h5", checkpoint_dir="ck", stop_at_ms=40)
    assert not part.finished
    done = plexus.resume("ck", quiet=True)
    assert done.finished
    assert np.array_equal(done.spikes("E")[0], whole.spikes("E")[0])
    assert np.array_equal(done.spikes("I")[1], whole.spikes("I")[1])


def test_plot_draws_the_command_lines_figure(workdir):
    m = plexus.Model.from_toml(model_path("coba_benchmark.toml")).set("run.duration_ms", 50)
    r = plexus.run(m, quiet=True, output="c.h5")
    written = plexus.plot(r)
    assert written == [str(workdir / "c.png")] or written == ["c.png"]
    assert os.path.getsize(written[0]) > 10000
    in_memory = plexus.run(m, quiet=True)
    out = plexus.plot(in_memory, output="mem.png", populations="E")
    assert out == ["mem.png"] and os.path.getsize("mem.png") > 10000
    with pytest.raises(plexus.UsageError):
        plexus.plot(r, output="x.png", populations="nope")
