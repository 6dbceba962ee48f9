// _plexus: the compiled part of the Python interface. It hands a model (TOML text and overrides) to
// the same run shell as the command line (train/shell.hpp), so Python sees every registered run kind
// without code of its own for each; stepping never happens in Python. The pure-Python package
// (src/python/plexus/) builds models, writes NumPy inputs to files and reads results.
//
// A Session owns MPI for the interpreter: MPI is initialised only when the process was started by an
// MPI launcher (as for the command line), and finalised by Session.close() (registered with atexit).
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "plexus/comm/communicator.hpp"
#include "plexus/core/error.hpp"
#include "plexus/core/version.hpp"
#include "plexus/model/config.hpp"
#include "plexus/model/network.hpp"
#include "plexus/train/experiment.hpp"
#include "plexus/train/shell.hpp"

namespace py = pybind11;

namespace {

using namespace plexus;

// A model as the Python side holds it: the text of its file (or of a dict), the name errors give for
// it, the directory its relative file names are resolved against, and the overrides (as --set).
model::Config config_of(const std::string& text, const std::string& name, const std::string& base_dir,
                        const std::vector<std::string>& overrides) {
  auto config = model::Config::parse(text, name, overrides);
  config.set_base_dir(base_dir);
  return config;
}

using Callback = std::function<bool(std::int64_t, const std::vector<std::pair<std::string, double>>&)>;

train::ShellOptions shell_options(const py::dict& o, const Callback& on_iteration) {
  train::ShellOptions s;
  auto get = [&o](const char* key) -> std::optional<py::object> {
    if (!o.contains(key) || o[key].is_none()) return std::nullopt;
    return py::reinterpret_borrow<py::object>(o[key]);
  };
  if (auto v = get("threads")) s.threads = v->cast<int>();
  if (auto v = get("output")) s.output = std::filesystem::path(v->cast<std::string>());
  // quiet: nothing on the terminal (the command line's -q keeps the first lines and the summary).
  if (auto v = get("quiet")) s.quiet = v->cast<bool>();
  if (s.quiet) s.out = nullptr;
  if (auto v = get("checkpoint_dir")) s.checkpoint_dir = v->cast<std::string>();
  if (auto v = get("checkpoint_every")) s.checkpoint_every = v->cast<std::string>();
  if (auto v = get("checkpoint_keep")) s.checkpoint_keep = v->cast<int>();
  if (auto v = get("stop_at_ms")) s.stop_at_ms = v->cast<double>();
  if (auto v = get("stop_at_iteration")) s.stop_at_iteration = v->cast<std::int64_t>();
  if (auto v = get("batch_groups")) s.batch_groups = v->cast<int>();
  if (s.threads < 0 || s.threads > 1024) throw UserError("threads: give 1 to 1024 (or 0: OMP_NUM_THREADS)");
  if (s.batch_groups < 0) throw UserError("batch_groups: a positive number of groups, or 0 for auto");
  s.on_iteration = on_iteration;
  return s;
}

class Session {
 public:
  Session() {
    int argc = 0;
    char** argv = nullptr;
    env_ = std::make_unique<comm::Environment>(argc, argv);
    world_ = env_->world();
  }
  int rank() const { return live().rank(); }
  int size() const { return live().size(); }
  bool mpi() const { return env_ && env_->mpi(); }
  void barrier() { live().barrier(); }
  std::string broadcast(std::string text) {
    live().broadcast(text, 0);
    return text;
  }

  // plexus run / train: returns the exit code (0: finished, or stopped at a checkpoint).
  int start(const std::string& command, const std::string& text, const std::string& name,
            const std::string& base_dir, const std::vector<std::string>& overrides, const py::dict& options,
            const Callback& on_iteration) {
    auto o = shell_options(options, wrap(on_iteration));
    return guarded([&] {
      const model::Network net = model::Network::from_config(config_of(text, name, base_dir, overrides));
      const auto& kind = train::experiment_for(command, net);
      return train::start(kind, net, live(), o);
    });
  }

  int resume(const std::string& where, const py::dict& options, const Callback& on_iteration) {
    auto o = shell_options(options, wrap(on_iteration));
    return guarded([&] { return train::resume(where, live(), o); });
  }

  void close() {
    world_.reset();
    env_.reset();
  }

 private:
  comm::Communicator& live() const {
    if (!world_) throw std::runtime_error("the plexus session has been closed");
    return *world_;
  }

  // The callback runs Python: it takes the interpreter lock back from the run, which released it.
  static Callback wrap(const Callback& f) {
    if (!f) return {};
    return [f](std::int64_t it, const std::vector<std::pair<std::string, double>>& values) {
      py::gil_scoped_acquire gil;
      return f(it, values);
    };
  }

  // Runs without the interpreter lock (OpenMP threads and MPI never touch Python). A failure that
  // is not the user's (those are raised alike on every rank) may leave the other ranks waiting in a
  // collective: end the job, as the command line does.
  template <class F>
  int guarded(F&& f) {
    try {
      py::gil_scoped_release nogil;
      return f();
    } catch (const UserError&) {
      throw;
    } catch (const py::error_already_set&) {
      if (size() > 1) abort_job("the on_iteration callback raised an exception");
      throw;
    } catch (const std::exception& e) {
      if (size() > 1) abort_job(e.what());
      throw;
    }
  }

  void abort_job(const std::string& what) const {
    std::fprintf(stderr, "plexus: rank %d failed: %s\n", rank(), what.c_str());
    std::fflush(stderr);
    env_->abort(kExitFailure);
  }

  std::unique_ptr<comm::Environment> env_;
  std::unique_ptr<comm::Communicator> world_;
};

// ConfigError -> plexus.ModelError(message, file, line, key); UserError -> plexus.UsageError.
// pybind11 asks for this signature (a function pointer taking the exception_ptr by value).
void translate(std::exception_ptr p) {  // NOLINT(performance-unnecessary-value-param)
  try {
    if (p) std::rethrow_exception(p);
  } catch (const ConfigError& e) {
    auto cls = py::module_::import("plexus.errors").attr("ModelError");
    auto err = cls(e.what(), e.file(), e.line(), e.key());
    PyErr_SetObject(cls.ptr(), err.ptr());
  } catch (const UserError& e) {
    auto cls = py::module_::import("plexus.errors").attr("UsageError");
    PyErr_SetObject(cls.ptr(), cls(e.what()).ptr());
  }
}

}  // namespace

PYBIND11_MODULE(_plexus, m) {
  m.doc() = "Plexus's compiled core: models checked and run by the C++ engine (use the plexus package)";
  py::register_exception_translator(&translate);

  m.def("version", [] { return std::string(version::version()); });
  m.def("git_hash", [] { return std::string(version::git_hash()); });

  // Parses and checks a model as `plexus run` would; returns the resolved configuration (TOML).
  m.def(
      "check",
      [](const std::string& text, const std::string& name, const std::string& base_dir,
         const std::vector<std::string>& overrides) {
        const model::Network net = model::Network::from_config(config_of(text, name, base_dir, overrides));
        return net.config.to_toml();
      },
      py::arg("text"), py::arg("name"), py::arg("base_dir"), py::arg("overrides"));

  py::class_<Session>(m, "Session")
      .def(py::init<>())
      .def_property_readonly("rank", &Session::rank)
      .def_property_readonly("size", &Session::size)
      .def_property_readonly("mpi", &Session::mpi)
      .def("barrier", &Session::barrier)
      .def("broadcast", &Session::broadcast, py::arg("text"))
      .def("start", &Session::start, py::arg("command"), py::arg("text"), py::arg("name"),
           py::arg("base_dir"), py::arg("overrides"), py::arg("options"),
           py::arg("on_iteration") = Callback{})
      .def("resume", &Session::resume, py::arg("where"), py::arg("options"),
           py::arg("on_iteration") = Callback{})
      .def("close", &Session::close);
}
