// plexus: command-line front end.
//   plexus run MODEL.toml [-o FILE.h5] [--threads N] [--set key=value]...   (under mpiexec -n R)
//   plexus train MODEL.toml [-o FILE.h5] [--threads N] [--set key=value]...  (under mpiexec -n R)
//   plexus run|train MODEL.toml --checkpoint-dir DIR [--checkpoint-every 100ms|10it|30min] [--stop-at-...]
//   plexus resume DIR [--threads N]        (any run kind; under mpiexec -n M, any M)
//   plexus scale-test MODEL.toml --neurons N [--keep indegree|p] [--dry-run-ranks R]
//   plexus inspect FILE.h5 | MODEL.toml [--set key=value]...
//   plexus verify FILE.h5... [--same-as REFERENCE.h5]
//   plexus models
// `run`, `train` and `resume` go through the run shell (train/shell.hpp): `run` is the "simulate"
// experiment, `train` the experiment that drives the model's [train] rule, as registered.
// Exit codes: 0 success, 1 the run failed, 2 bad model file, input file or command line.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "commands.hpp"
#include "plexus/comm/communicator.hpp"
#include "plexus/comm/watchdog.hpp"
#include "plexus/core/error.hpp"
#include "plexus/core/version.hpp"
#include "plexus/learning/rule.hpp"
#include "plexus/model/network.hpp"
#include "plexus/neuron/population.hpp"
#include "plexus/task/task.hpp"
#include "plexus/train/experiment.hpp"
#include "plexus/train/shell.hpp"

namespace {

using namespace plexus;

struct RunArgs {
  std::string model;
  std::string output;
  std::vector<std::string> sets;
  int dry_ranks = 0, dry_rank = 0;
  std::string watchdog;  // --watchdog: "" (the default), "off" or a wall-clock time
  train::ShellOptions shell;
};

train::ShellOptions shell_options(const RunArgs& a) {
  auto o = a.shell;
  if (!a.output.empty()) o.output = std::filesystem::path(a.output);
  return o;
}

// plexus run / train: a new run of the experiment the command and the model select.
int start(const std::string& command, const RunArgs& a, comm::Communicator& world) {
  std::unique_ptr<comm::Communicator> dry;
  if (a.dry_ranks > 0) dry = comm::make_dry_run(a.dry_rank, a.dry_ranks);
  comm::Communicator& comm = dry ? *dry : world;
  const model::Network net = model::Network::from_config(model::Config::load(a.model, a.sets));
  const train::ExperimentInfo& kind = train::experiment_for(command, net);
  auto o = shell_options(a);
  if (!dry && !o.output) o.output = std::filesystem::path("results") / (net.name + ".h5");
  if (dry) o.output.reset();
  return train::start(kind, net, comm, o);
}

void list_models() {
  std::cout << "neuron models:\n";
  for (const auto& n : neuron::Registry::get().names())
    std::cout << fmt::format("  {:<16} {}\n", n, neuron::Registry::get().find(n)->summary);
  std::cout << "learning rules ([train] rule):\n";
  for (const auto& e : train::ExperimentRegistry::get().all())
    if (e.rules && e.name != "gradient")
      for (const auto& r : e.rules()) std::cout << fmt::format("  {:<16} {}\n", r, e.summary);
  for (const auto& r : learning::RuleRegistry::get().all())
    std::cout << fmt::format("  {:<16} {}\n", r.name, r.summary);
  std::cout << "tasks ([task] kind, for gradient training):\n";
  for (const auto& k : task::Registry::get().names())
    std::cout << fmt::format("  {:<16} {}\n", k, task::Registry::get().find(k)->summary);
}

void add_run_options(CLI::App* cmd, RunArgs& a, bool new_run) {
  auto& o = a.shell;
  if (new_run) {
    cmd->add_option("model", a.model, "Model file (TOML)")->required();
    cmd->add_option("--set", a.sets, "Override a model key: --set run.duration_ms=500 (repeatable)");
    cmd->add_option("-o,--output", a.output, "Result file (default: results/<model>.h5)");
    cmd->add_flag("--replace", o.replace,
                  "Start over although the output's .partial belongs to a run that can still be resumed");
  } else {
    cmd->add_option("checkpoint", a.model,
                    "Checkpoint directory (--checkpoint-dir of the run) or one checkpoint")
        ->required();
    cmd->add_option("-o,--output", a.output,
                    "Result file to continue (its NAME.h5.partial must be there; default: the run's own)");
  }
  cmd->add_option("--threads", o.threads, "OpenMP threads per rank (default 1, or OMP_NUM_THREADS)")
      ->check(CLI::Range(1, 1024));
  if (cmd->get_name() != "run")
    cmd->add_option_function<std::string>(
        "--batch-groups",
        [&o](const std::string& v) {
          if (v == "auto") {
            o.batch_groups = 0;
            return;
          }
          std::size_t used = 0;
          int g = 0;
          try {
            g = std::stoi(v, &used);
          } catch (const std::exception&) {
            used = 0;
          }
          if (used != v.size() || g < 1)
            throw CLI::ValidationError("--batch-groups", "a positive number of groups, or 'auto'");
          o.batch_groups = g;
        },
        "Training: groups of ranks that each hold the whole network and run their share of a batch (divides "
        "the ranks; default auto)");
  cmd->add_flag("-q,--quiet", o.quiet, "No progress lines");
  cmd->add_option("--watchdog", a.watchdog,
                  "Under MPI: end the job when a rank waits longer than this in one collective, naming it "
                  "and the step ('10min', '30s', or 'off'; default 10min under Slurm, else off)");
  if (new_run)
    cmd->add_option("--checkpoint-dir", o.checkpoint_dir,
                    "Write checkpoints here (periodically with --checkpoint-every, and on SIGTERM/SIGUSR1)");
  cmd->add_option(
      "--checkpoint-every", o.checkpoint_every,
      "Between checkpoints: simulated time ('100ms', '2s') for stepped runs, iterations ('10it') for "
      "training, or wall-clock time ('30min', '1h')");
  cmd->add_option("--checkpoint-keep", o.checkpoint_keep, "Newest checkpoints kept (default 2)")
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--stop-at-ms", o.stop_at_ms, "Stepped runs: checkpoint and stop at this simulated time")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--stop-at-iteration", o.stop_at_iteration,
                  "Runs that advance by iterations: checkpoint and stop after this one")
      ->check(CLI::PositiveNumber);
}

int dispatch(CLI::App& app, CLI::App* run_cmd, CLI::App* train_cmd, CLI::App* resume_cmd, CLI::App* scale_cmd,
             CLI::App* inspect_cmd, RunArgs& ra, RunArgs& ta, RunArgs& rsa, app::ScaleArgs& sa,
             const std::string& inspect_path, const std::vector<std::string>& inspect_sets,
             comm::Communicator& world) {
  const bool root = world.rank() == 0;
  if (*run_cmd) {
    if (ra.dry_ranks > 0 && ra.dry_rank >= ra.dry_ranks)
      throw UserError("--dry-run-rank must be below --dry-run-ranks");
    return start("run", ra, world);
  }
  if (*train_cmd) return start("train", ta, world);
  if (*resume_cmd) return train::resume(rsa.model, world, shell_options(rsa));
  if (*scale_cmd) {
    if (sa.dry_ranks > 0 && sa.dry_rank >= sa.dry_ranks)
      throw UserError("--dry-run-rank must be below --dry-run-ranks");
    if (sa.dry_ranks > 0 && world.size() > 1)
      throw UserError("a dry run is one process: start it without mpiexec");
    return app::scale_test(sa, world);
  }
  if (*inspect_cmd) return root ? app::inspect(inspect_path, inspect_sets) : kExitOk;
  if (root) list_models();
  (void)app;
  return kExitOk;
}

}  // namespace

namespace {
// What a failure says: an allocation failure (possibly passed on by another rank as text) explains itself.
std::string failure_text(const std::exception& e) {
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr ||
      std::string_view(e.what()).find("bad_alloc") != std::string_view::npos)
    return fmt::format(
        "out of memory ({}): the run needs more memory per rank than it was given; use more ranks "
        "or nodes, or see what each rank needs first with `plexus scale-test MODEL.toml --neurons N "
        "--dry-run-ranks R`",
        e.what());
  return e.what();
}
}  // namespace

int main(int argc, char** argv) {
  std::unique_ptr<plexus::comm::Environment> env;
  try {
    env = std::make_unique<plexus::comm::Environment>(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "plexus: cannot start MPI: %s\n", e.what());
    return plexus::kExitFailure;
  }
  auto world = env->world();
  const bool root = world->rank() == 0;

  CLI::App app{"Plexus: distributed spiking-network simulation with online learning"};
  app.set_version_flag("--version",
                       std::string(plexus::version::version()) + " (" + plexus::version::git_hash() + ")");
  app.require_subcommand(1);
  RunArgs ra, ta, rsa;
  auto* run_cmd = app.add_subcommand("run", "Simulate a model (run under mpiexec -n R for R ranks)");
  add_run_options(run_cmd, ra, true);
  auto* dr = run_cmd
                 ->add_option(
                     "--dry-run-ranks", ra.dry_ranks,
                     "Play one rank of an R-rank run in this process (others' spikes synthesised; no result "
                     "file)")
                 ->check(CLI::Range(1, 1 << 20));
  run_cmd->add_option("--dry-run-rank", ra.dry_rank, "Which rank to play in a dry run (default 0)")
      ->needs(dr)
      ->check(CLI::NonNegativeNumber);
  auto* train_cmd =
      app.add_subcommand("train", "Train a model with its [train] rule on its [task] (under mpiexec -n R)");
  add_run_options(train_cmd, ta, true);
  auto* resume_cmd = app.add_subcommand(
      "resume",
      "Continue a run from its newest checkpoint (under mpiexec -n M, any M), appending to its result file");
  add_run_options(resume_cmd, rsa, false);
  plexus::app::ScaleArgs sa;
  auto* scale_cmd = app.add_subcommand(
      "scale-test",
      "Build a model at another size, run a few hundred steps, report memory and time per rank");
  scale_cmd->add_option("model", sa.model, "Model file (TOML)")->required();
  scale_cmd
      ->add_option("--neurons", sa.neurons,
                   "Neurons in the populations of ordinary neurons (default: as in the file)")
      ->check(CLI::PositiveNumber);
  scale_cmd
      ->add_option("--keep", sa.keep, "Hold each projection's mean in-degree (default) or its probability p")
      ->check(CLI::IsMember({"indegree", "p"}));
  scale_cmd->add_option("--steps", sa.steps, "Steps to run (default 300)")->check(CLI::Range(1, 100000000));
  scale_cmd->add_option("--threads", sa.threads, "OpenMP threads per rank")->check(CLI::Range(1, 1024));
  scale_cmd->add_option("--set", sa.sets, "Override a model key (repeatable)");
  scale_cmd->add_option("--json", sa.json, "Also write the figures to this file (JSON)");
  auto* sdr = scale_cmd
                  ->add_option("--dry-run-ranks", sa.dry_ranks,
                               "Play one rank of an R-rank run in this process (others' spikes synthesised)")
                  ->check(CLI::Range(1, 1 << 20));
  scale_cmd->add_option("--dry-run-rank", sa.dry_rank, "Which rank to play (default 0)")
      ->needs(sdr)
      ->check(CLI::NonNegativeNumber);
  std::string inspect_path;
  auto* inspect_cmd = app.add_subcommand("inspect", "Describe what a result file holds");
  inspect_cmd->add_option("file", inspect_path, "Result file (HDF5), or a model file (TOML)")->required();
  std::vector<std::string> inspect_sets;
  inspect_cmd->add_option("--set", inspect_sets, "Override a model key (repeatable; model files only)");
  std::vector<std::string> verify_paths;
  auto* verify_cmd =
      app.add_subcommand("verify", "Check that result files are intact (every chunk's checksum)");
  verify_cmd->add_option("files", verify_paths, "Result files (HDF5), .partial files too")->required();
  std::string verify_same_as;
  verify_cmd->add_option("--same-as", verify_same_as,
                         "Instead: compare with this result file (datasets outside /metadata must be equal; "
                         "exit 1 if they differ)");
  app.add_subcommand("models", "List the neuron models, learning rules and tasks");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = root ? app.exit(e) : e.get_exit_code();
    return rc == 0 ? plexus::kExitOk : plexus::kExitUsage;
  }

  try {
    if (env->mpi() && world->size() > 1) {
      const RunArgs* chosen = *run_cmd ? &ra : *train_cmd ? &ta : *resume_cmd ? &rsa : nullptr;
      const double limit = chosen && !chosen->watchdog.empty()
                               ? plexus::comm::parse_watchdog(chosen->watchdog)
                               : plexus::comm::Environment::default_watchdog_seconds();
      env->arm_watchdog(limit, world->rank());
    }
    if (*verify_cmd) return root ? app::verify(verify_paths, verify_same_as) : plexus::kExitOk;
    return dispatch(app, run_cmd, train_cmd, resume_cmd, scale_cmd, inspect_cmd, ra, ta, rsa, sa,
                    inspect_path, inspect_sets, *world);
  } catch (const plexus::UserError& e) {
    if (root) std::fprintf(stderr, "plexus: error: %s\n", e.what());
    return plexus::kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "plexus: rank %d failed: %s\n", world->rank(), failure_text(e).c_str());
    // The other ranks may be waiting in a collective: end the job rather than hang.
    if (world->size() > 1) env->abort(plexus::kExitFailure);
    world.reset();
    env->exit_after_failure(plexus::kExitFailure);
  }
}
