"""Models from files and dicts: the file schema, checked by the engine, errors with their key path."""
import numpy as np
import pytest

import plexus
from conftest import model_path


def small_network(**extra):
    d = {"model": {"name": "dict_net"}, "run": {"duration_ms": 50.0, "dt_ms": 0.1}, "network": {"seed": 5},
         "populations": {"E": {"model": "lif_coba", "size": 40, "params": {"I_e_pA": 250.0}}},
         "projections": {"EE": {"source": "E", "target": "E", "rule": "fixed_probability", "p": 0.1,
                                "weight": 2.0, "delay_ms": 0.5, "receptor": "exc"}}}
    d.update(extra)
    return d


def test_from_dict_runs_and_round_trips():
    m = plexus.Model.from_dict(small_network())
    assert m.get("populations.E.size") == 40
    assert m.network_name == "dict_net"
    # The resolved TOML reads back as the same model.
    again = plexus.Model.from_dict(m.to_dict())
    assert again.to_toml() == m.to_toml()
    r = plexus.run(m, quiet=True)
    t, ids = r.spikes("E")
    assert len(t) > 0 and ids.max() < 40
    assert r.populations == {"E": 40}
    assert r.path is None  # no output asked for: the data lives in memory only


def test_numpy_values_in_a_dict():
    d = small_network()
    d["populations"]["E"]["size"] = np.int64(20)
    d["run"]["duration_ms"] = np.float64(20.0)
    m = plexus.Model.from_dict(d)
    assert m.get("populations.E.size") == 20


def test_set_and_to_toml():
    m = plexus.Model.from_toml(model_path("coba_benchmark.toml"))
    m.set("run.duration_ms", 250).set("network.seed", 7)
    m.update({"populations.E.params.I_e_pA": 210.0})
    assert m.get("run.duration_ms") == 250
    assert m.get("network.seed") == 7
    assert "I_e_pA = 210" in m.to_toml()
    assert m.overrides[-1] == "populations.E.params.I_e_pA=210.0"


def test_errors_carry_the_key_path():
    m = plexus.Model.from_toml(model_path("coba_benchmark.toml"))
    with pytest.raises(plexus.ModelError) as e:
        m.set("populations.E.size", -3)
    assert e.value.key == "populations.E.size"
    assert "out of range" in str(e.value)
    assert m.get("populations.E.size") == 3200  # a refused override is not kept

    d = small_network()
    d["projections"]["EE"]["p"] = 1.5
    with pytest.raises(plexus.ModelError) as e:
        plexus.Model.from_dict(d)
    assert e.value.key == "projections.EE.p"

    d = small_network()
    d["populations"]["E"]["sise"] = 3
    with pytest.raises(plexus.ModelError) as e:
        plexus.Model.from_dict(d)
    assert e.value.key == "populations.E.sise" and "size" in str(e.value)  # the nearest allowed key


def test_errors_in_a_file_name_its_line(tmp_path):
    text = open(model_path("coba_benchmark.toml")).read().replace("p = 0.02", "p = 2.0", 1)
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(plexus.ModelError) as e:
        plexus.Model.from_toml(bad)
    line = next(i + 1 for i, s in enumerate(text.splitlines()) if s == "p = 2.0")
    assert e.value.file == str(bad) and e.value.line == line
    assert e.value.key.endswith(".p")


def test_errors_found_when_building_are_model_errors_too():
    d = small_network()
    d["populations"]["E"]["model"] = "no_such_model"
    m = plexus.Model.from_dict(d)  # the neuron model is looked up when the network is built
    with pytest.raises(plexus.ModelError) as e:
        plexus.run(m, quiet=True)
    assert e.value.key == "populations.E.model"


def test_bad_arguments():
    with pytest.raises(plexus.UsageError):
        plexus.Model.from_toml("no/such/file.toml")
    with pytest.raises(plexus.UsageError):
        plexus.Model.from_dict([1, 2])
    m = plexus.Model.from_dict(small_network())
    with pytest.raises(plexus.UsageError):
        plexus.run(m, threads=-1)
    with pytest.raises(plexus.UsageError):
        plexus.train(m, quiet=True)  # no [train] section
