#include "plexus/train/shell.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>

#include <fmt/format.h>

#include "plexus/checkpoint/checkpoint.hpp"
#include "plexus/comm/agree.hpp"
#include "plexus/core/affinity.hpp"
#include "plexus/core/error.hpp"
#include "plexus/core/memory.hpp"
#include "plexus/core/quantity.hpp"
#include "plexus/core/version.hpp"
#include "plexus/io/ownership.hpp"
#include "plexus/io/result_file.hpp"

namespace plexus::train {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// When checkpoints are taken, in the experiment's positions.
struct Policy {
  std::filesystem::path dir;
  std::string every_text;  // as given, kept in the checkpoint for `resume`
  std::int64_t every = 0;  // positions between checkpoints (0: not by count)
  double every_wall_seconds = 0.0;
  int keep = 2;
  std::int64_t stop_at = -1;  // checkpoint and stop at this position (-1: never)
  std::int64_t poll = 1;      // positions between the (collective) checks for signals
};

// A --checkpoint-every value: a positive number and a unit ("100ms", "10 it").
std::pair<double, std::string> split_interval(const std::string& text, const std::string& forms) {
  const auto q = core::number_with_unit(text);
  if (!q || !(q->first > 0.0)) throw UserError(fmt::format("--checkpoint-every '{}': {}", text, forms));
  return *q;
}

// --checkpoint-every: simulated time ("100ms", "2s") for stepped experiments, iterations ("10it")
// for the others, or wall-clock time ("30min", "1h") for any.
void parse_every(const std::string& text, const Positions& pos, double dt_ms, Policy& c) {
  if (text.empty()) return;
  const std::string forms = pos.steps
                                ? "give simulated time ('100ms', '2s') or wall-clock time ('30min', '1h')"
                                : "give iterations ('10it') or wall-clock time ('30min', '1h')";
  const auto [value, unit] = split_interval(text, forms);
  c.every_text = text;
  if (unit == "min" || unit == "h") {
    c.every_wall_seconds = value * (unit == "h" ? 3600.0 : 60.0);
  } else if (pos.steps && (unit == "ms" || unit == "s")) {
    const double ms = unit == "s" ? value * 1e3 : value;
    c.every = std::max<std::int64_t>(1, std::llround(ms / dt_ms));
  } else if (!pos.steps && (unit == "it" || unit == "iterations")) {
    c.every = std::max<std::int64_t>(1, std::llround(value));
  } else if (pos.steps && (unit == "it" || unit == "iterations" || unit == "trials")) {
    throw UserError(fmt::format(
        "--checkpoint-every '{}': counts of {} apply to training by iterations, not to a run stepped in "
        "simulated time ('plexus run', FORCE); {}",
        text, unit, forms));
  } else if (!pos.steps && (unit == "ms" || unit == "s" || unit == "trials")) {
    throw UserError(fmt::format(
        "--checkpoint-every '{}': checkpoints of this run are taken between iterations; {}", text, forms));
  } else {
    throw UserError(fmt::format("--checkpoint-every '{}': unknown unit '{}'; {}", text, unit, forms));
  }
}

// A new run must not prune (and so destroy) another run's checkpoints.
void refuse_used_checkpoint_dir(const std::filesystem::path& dir) {
  if (!checkpoint::list(dir).empty() || std::filesystem::exists(dir / "finished"))
    throw UserError(fmt::format(
        "'{}' already holds checkpoints of a run; continue it with 'plexus resume {}', or give another "
        "--checkpoint-dir",
        dir.string(), dir.string()));
}

std::string describe_minmax(const std::vector<std::uint64_t>& v) {
  std::uint64_t lo = v.empty() ? 0 : v[0], hi = lo, sum = 0;
  for (auto x : v) lo = std::min(lo, x), hi = std::max(hi, x), sum += x;
  const double mean = v.empty() ? 0.0 : static_cast<double>(sum) / static_cast<double>(v.size());
  return fmt::format("min {} / mean {} / max {}", memory::human_bytes(static_cast<double>(lo)),
                     memory::human_bytes(mean), memory::human_bytes(static_cast<double>(hi)));
}

}  // namespace

int threads_of(int requested) {
  if (requested > 0) return requested;
  return std::getenv("OMP_NUM_THREADS") ? omp_get_max_threads() : 1;
}

std::string human_seconds(double seconds) {
  // Rounded to whole seconds first, so that 119.6 s reads "2m00s", not "1m60s".
  const auto s = static_cast<std::int64_t>(std::llround(std::max(0.0, seconds)));
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

struct Shell::Impl {
  const ExperimentInfo& kind;
  const model::Network& net;
  comm::Communicator& comm;
  ShellOptions opt;
  int threads = 1;
  bool root = false;
  std::unique_ptr<Experiment> owned;
  Experiment* experiment = nullptr;
  std::unique_ptr<io::ResultFile> file;
  std::unique_ptr<io::OutputLock> lock;  // rank 0, while the .partial is written
  std::string run_id;                    // the same on every rank, kept across resumes
  const checkpoint::Snapshot* snapshot = nullptr;
  std::optional<Policy> policy;

  // Progress.
  // The first throttled progress line comes after the first interval, not at the first step.
  Clock::time_point started = Clock::now(), last_line = Clock::now(), last_checkpoint = Clock::now();
  std::int64_t first_position = 0;
  std::int64_t last_point = -1;  // position of the last checkpoint_point() (intervals are crossed, not hit)
  // Stops and resumes.
  bool stopped = false;
  int stop_signal = 0;
  std::filesystem::path last_written;
  std::int64_t resumes = 0;
  double wall_before = 0.0;  // wall time of the earlier parts of a resumed run

  Impl(const ExperimentInfo& k, const model::Network& n, comm::Communicator& c, ShellOptions o)
      : kind(k), net(n), comm(c), opt(std::move(o)) {
    threads = threads_of(opt.threads);
    root = comm.rank() == 0;
  }

  std::ostream* quiet_log = nullptr;  // run_to_end(): the caller's log, if any
  bool standalone = false;
  std::ostream* log() const {
    if (standalone) return root ? quiet_log : nullptr;
    return root && !opt.quiet ? &std::cerr : nullptr;
  }
  std::string where(std::int64_t position) const {
    return kind.positions.steps ? fmt::format("at t = {:.1f} ms", net.step_to_ms(position))
                                : fmt::format("after {} {}", kind.positions.noun, position);
  }

  void build();
  void make_policy(const Policy* from_checkpoint);
  void open_file(bool resuming);
  void write_metadata();
  void checkpoint_now(const std::string& reason, std::int64_t position);
  int run_and_finish();
  void print_start(const std::string& resumed_from) const;
};

void Shell::Impl::build() {
  comm::agree(comm, [&] { owned = kind.make({net, comm, threads, log(), opt.batch_groups}); });
  experiment = owned.get();
}

void Shell::Impl::make_policy(const Policy* from_checkpoint) {
  if (opt.checkpoint_dir.empty() && !from_checkpoint) {
    if (!opt.checkpoint_every.empty() || opt.stop_at_iteration > 0 || opt.stop_at_ms > 0)
      throw UserError("--checkpoint-every and --stop-at-* need --checkpoint-dir");
    return;
  }
  if (comm.kind() == "dry-run") throw UserError("dry runs cannot write checkpoints (--checkpoint-dir)");
  Policy c = from_checkpoint ? *from_checkpoint : Policy{};
  if (!from_checkpoint) {
    c.dir = opt.checkpoint_dir;
    refuse_used_checkpoint_dir(c.dir);
  }
  if (opt.checkpoint_keep > 0) c.keep = opt.checkpoint_keep;
  c.every = 0;
  c.every_wall_seconds = 0.0;
  parse_every(!opt.checkpoint_every.empty() ? opt.checkpoint_every : c.every_text, kind.positions,
              net.run.dt_ms, c);
  const bool steps = kind.positions.steps;
  if (opt.stop_at_ms > 0 && !steps)
    throw UserError(
        fmt::format("--stop-at-ms applies to runs stepped in simulated time; this run advances by {}s: "
                    "give --stop-at-iteration",
                    kind.positions.noun));
  if (opt.stop_at_iteration > 0 && steps)
    throw UserError("--stop-at-iteration applies to runs that advance by iterations; give --stop-at-ms");
  c.stop_at = steps ? (opt.stop_at_ms > 0 ? net.ms_to_steps(opt.stop_at_ms) : -1) : opt.stop_at_iteration;
  c.poll = steps ? 10 : 1;
  policy = c;
  checkpoint::install_stop_handlers();
}

void write_common_metadata(io::ResultFile& f, const model::Network& net, comm::Communicator& comm,
                           int threads, const std::string& experiment) {
  f.create_group("/metadata");
  f.write_text("/metadata/config", net.config.to_toml());
  f.attribute("/metadata", "plexus_version", std::string(version::version()));
  f.attribute("/metadata", "git_hash", std::string(version::git_hash()));
  f.attribute("/metadata", "model", net.name);
  f.attribute("/metadata", "experiment", experiment);
  f.attribute("/metadata", "ranks", static_cast<std::int64_t>(comm.size()));
  f.attribute("/metadata", "threads", static_cast<std::int64_t>(threads));
  f.attribute("/metadata", "seed", static_cast<std::int64_t>(net.run.seed));
  f.attribute("/metadata", "dt_ms", net.run.dt_ms);
  // The --set overrides as given, one per line (a sweep's parameters; /metadata/config has them
  // applied).
  std::string overrides;
  for (const auto& o : net.config.overrides()) overrides += o + "\n";
  f.write_text("/metadata/overrides", overrides);
}

// The common part of /metadata; the experiment adds its own.
void Shell::Impl::write_metadata() {
  write_common_metadata(*file, net, comm, threads, kind.name);
  file->attribute("/metadata", "run_id", run_id);
  file->attribute("/metadata", "config_hash", io::text_hash(net.config.to_toml()));
  if (policy) file->attribute("/metadata", "checkpoint_dir", std::filesystem::absolute(policy->dir).string());
}

namespace {
// A new run may replace an earlier result of its name, but not the .partial of a run that can still
// be resumed (its newest checkpoint is of the same run), unless told to.
void refuse_live_partial(const std::filesystem::path& partial, bool replace) {
  if (replace || !std::filesystem::exists(partial)) return;
  const std::string id = io::run_id_of(partial), dir = io::checkpoint_dir_of(partial);
  if (id.empty() || dir.empty()) return;
  const auto all = checkpoint::list(dir);
  if (all.empty()) return;
  try {
    const auto m = checkpoint::read_manifest(all.back());
    const auto it = m.texts.find("run/id");
    if (it == m.texts.end() || it->second != id) return;
  } catch (const UserError&) {
    return;
  }
  throw UserError(
      fmt::format("'{}' belongs to a run that can still be resumed (plexus resume {}); give --replace "
                  "to start over (its checkpoints stay), or another name with -o",
                  partial.string(), dir));
}
}  // namespace

void Shell::Impl::open_file(bool resuming) {
  // The run's id: new, or the checkpoint's (older checkpoints have none: then a new one).
  const auto* texts = resuming ? &snapshot->manifest().texts : nullptr;
  const auto ids = texts ? texts->find("run/id") : std::map<std::string, std::string>::const_iterator{};
  const bool has_id = texts && ids != texts->end();
  if (has_id)
    run_id = ids->second;
  else if (root)
    run_id = io::new_run_id();
  comm.broadcast(run_id, 0);
  if (!opt.output) return;
  auto partial = *opt.output;
  partial += ".partial";
  if (!resuming) {
    comm::agree(comm, [&] {
      if (root) {
        lock = std::make_unique<io::OutputLock>(partial);
        refuse_live_partial(partial, opt.replace);
      }
    });
    comm::agree(comm, [&] { file = std::make_unique<io::ResultFile>(*opt.output, comm); });
    comm::agree(comm, [&] {
      write_metadata();
      experiment->start_file(*file);
      file->flush();
    });
    return;
  }
  // Continuing from a checkpoint: every extensible dataset is taken up where the checkpoint left it
  // (anything written after it is dropped), so the finished file equals an uninterrupted run's.
  std::map<std::string, std::uint64_t> lengths;
  const std::string prefix = "result/rows:", tail_prefix = "result/tail:";
  std::map<std::string, std::uint64_t> tails;
  for (const auto& [k, v] : snapshot->manifest().integers) {
    if (k.rfind(prefix, 0) == 0) lengths[k.substr(prefix.size())] = static_cast<std::uint64_t>(v);
    if (k.rfind(tail_prefix, 0) == 0) tails[k.substr(tail_prefix.size())] = static_cast<std::uint64_t>(v);
  }
  // The .partial must be this run's (not one of a later run with the same name, nor a copy), and what
  // the checkpoint relies on must be intact: otherwise it is refused, never carried on.
  comm::agree(comm, [&] {
    if (comm.rank() != 0) return;
    lock = std::make_unique<io::OutputLock>(partial);
    if (!std::filesystem::exists(partial)) {
      const std::string other = io::run_id_of(*opt.output);
      if (has_id && !other.empty() && other != run_id)
        throw UserError(
            fmt::format("'{}' is the result of another run (run id {}; the checkpoint's run is {}), "
                        "started later with the same output name: this run's .partial was replaced, "
                        "so it cannot be continued",
                        opt.output->string(), other, run_id));
      return;  // ResultFile says what is missing
    }
    const std::string theirs = io::run_id_of(partial);
    if (has_id && !theirs.empty() && theirs != run_id)
      throw UserError(
          fmt::format("'{}' belongs to another run (run id {}; the checkpoint's run is {}): a later run "
                      "with the same output name replaced it, or it was copied in. Nothing was "
                      "appended; the checkpoint's own results are lost with the replaced file",
                      partial.string(), theirs, run_id));
    const auto v = io::verify(partial, lengths, tails);
    if (!v.intact())
      throw UserError(
          fmt::format("the result file '{}' is damaged: {}; the run cannot be continued into it "
                      "(the checkpoint holds the state, not the results recorded before it): start "
                      "the run again",
                      partial.string(), v.damaged.front()));
    // A last chunk written again after the checkpoint and cut by the crash, with the rows the checkpoint
    // counted intact (they match its digest): rewritten from those rows.
    io::repair_tails(partial, v.torn_tails, lengths);
    for (const auto& name : v.torn_tails)
      fmt::print(
          "repaired {} in {}: its last chunk was being written when the run was stopped; the rows the "
          "checkpoint counted are intact\n",
          name, partial.string());
  });
  comm::agree(comm, [&] {
    file = std::make_unique<io::ResultFile>(*opt.output, comm, io::ResultFile::Mode::Append);
    for (const auto& [path, rows] : lengths) file->reopen(path, rows);
    file->attribute("/metadata", "resumes", resumes);
    experiment->resume_file(*file, lengths);
  });
}

void Shell::Impl::checkpoint_now(const std::string& reason, std::int64_t position) {
  const auto& c = *policy;
  checkpoint::Manifest m;
  m.step = position;
  m.threads = threads;
  m.command = kind.command;
  m.reason = reason;
  m.model_name = net.name;
  m.config_toml = net.config.to_toml();
  m.config_source = net.config.source_name();
  m.config_text = net.config.source_text();
  m.config_overrides = net.config.overrides();
  m.config_base_dir = std::filesystem::absolute(net.config.base_dir()).string();
  m.result_file = file ? std::filesystem::absolute(file->final_path()).string() : std::string();
  m.total_steps = net.run.steps;
  m.texts["run/experiment"] = kind.name;
  m.texts["run/id"] = run_id;
  m.texts["run/checkpoint_every"] = c.every_text;
  m.integers["run/checkpoint_keep"] = c.keep;
  m.integers["run/resumes"] = resumes;
  const auto components = experiment->state();
  const double wall = wall_before + since(started);
  checkpoint::Written written;
  try {
    comm::agree(comm, [&] {
      written = checkpoint::write(c.dir, c.keep, std::move(m), comm, [&](checkpoint::Writer& w) {
        w.real("run/wall_seconds", wall);
        w.set_copy(experiment->state_is_copy());
        for (auto* comp : components) comp->save(w);
        w.set_copy(false);
        // After the components: the simulation's flushes its recorder first. Then the file itself, so
        // that what the checkpoint counts is on disk with its checksums when the checkpoint exists.
        if (file) file->flush();
        if (file) {
          for (const auto& [path, rows] : file->lengths())
            w.integer("result/rows:" + path, static_cast<std::int64_t>(rows));
          // Digests of the partly filled last chunks, written again by later appends (see repair_tails).
          for (const auto& [path, digest] : file->tail_digests())
            w.integer("result/tail:" + path, static_cast<std::int64_t>(digest));
        }
      });
    });
  } catch (const UserError&) {
    throw;
  } catch (const std::exception& e) {
    // A failed write (a full disk) leaves the earlier checkpoints as they were: say which to resume.
    const auto kept = checkpoint::list(c.dir);
    throw std::runtime_error(fmt::format(
        "writing the checkpoint {} failed: {}; {}", where(position), e.what(),
        kept.empty() ? std::string("no earlier checkpoint is there")
                     : fmt::format("the earlier checkpoint {} is intact: free space, then plexus resume {}",
                                   kept.back().string(), c.dir.string())));
  }
  last_written = written.path;
  if (auto* l = log()) {
    *l << fmt::format("[plexus] checkpoint {} ({}): {} ({}, {:.2f} s)\n", where(position), reason,
                      written.path.string(), memory::human_bytes(static_cast<double>(written.bytes)),
                      written.seconds);
    l->flush();
  }
}

void Shell::Impl::print_start(const std::string& resumed_from) const {
  // The CPUs each rank may use: on a cluster that binds tasks to cores, threads beyond them share
  // CPUs (srun without --cpus-per-task gives a rank one CPU since Slurm 22.05).
  const auto cpus = comm.allgather(static_cast<std::uint64_t>(core::allowed_cpus()));
  if (!root || !opt.out) return;
  const auto [lo, hi] = std::minmax_element(cpus.begin(), cpus.end());
  const std::string cpu_text = *lo == *hi ? fmt::format("{}", *lo) : fmt::format("{}-{}", *lo, *hi);
  const std::string dry = comm.kind() == "dry-run" ? fmt::format(" (dry run as rank {})", comm.rank()) : "";
  *opt.out << fmt::format(
      "plexus {} ({}): {}{}{}; {} rank(s){} x {} thread(s), {} CPU(s) per rank\n", version::version(),
      version::git_hash(), resumed_from.empty() ? "" : "resuming ", experiment->headline(),
      resumed_from.empty() ? "" : fmt::format(" from {} ({})", resumed_from, where(experiment->done())),
      comm.size(), dry, threads, cpu_text);
  if (*lo > 0 && static_cast<std::uint64_t>(threads) > *lo)
    *opt.out << fmt::format(
        "warning: {} thread(s) per rank but a rank may use only {} CPU(s): threads will share CPUs "
        "(under Slurm give srun --cpus-per-task, or export SRUN_CPUS_PER_TASK)\n",
        threads, *lo);
  if (opt.output)
    *opt.out << fmt::format("{} {}\n", resumed_from.empty() ? "writing" : "appending to",
                            opt.output->string());
  if (policy)
    *opt.out << fmt::format(
        "checkpoints in {}{}\n", policy->dir.string(),
        policy->every_text.empty() ? " (on SIGTERM/SIGUSR1 only)" : " every " + policy->every_text);
  opt.out->flush();
}

int Shell::Impl::run_and_finish() {
  first_position = experiment->done();
  Shell shell(*this);
  experiment->run(shell);
  if (stopped) {
    if (root && opt.out) {
      *opt.out << fmt::format(
          "stopped {} {} after writing checkpoint {}\nresume with: plexus resume {}   (under mpiexec/srun "
          "with any "
          "number of ranks)\n",
          stop_signal ? std::string("on ") + checkpoint::signal_name(stop_signal) : std::string("as asked"),
          where(experiment->done()), last_written.string(), policy->dir.string());
      opt.out->flush();
    }
    return kExitOk;
  }
  comm::agree(comm, [&] { experiment->finish(file.get()); });
  const auto rss = comm.allgather(static_cast<std::uint64_t>(memory::peak_rss_bytes()));
  const double wall = comm.allgather(wall_before + since(started))[0];
  if (file) {
    comm::agree(comm, [&] {
      file->attribute("/metadata", "wall_time_s", wall);
      file->write_replicated<std::uint64_t>("/metadata/peak_rss_bytes", rss);
      file->commit();
    });
    file.reset();
  }
  if (policy && root) {
    // Tells `plexus resume` and job chains that there is nothing left to do.
    std::ofstream done(policy->dir / "finished");
    done << (opt.output ? std::filesystem::absolute(*opt.output).string() : std::string()) << "\n";
  }
  if (root && opt.out) {
    experiment->report(*opt.out);
    *opt.out << fmt::format("peak memory per rank: {}\n", describe_minmax(rss));
    if (opt.output) *opt.out << fmt::format("wrote {}\n", opt.output->string());
    opt.out->flush();
  }
  return kExitOk;
}

void run_to_end(const std::string& kind, Experiment& experiment, const Setup& setup) {
  const auto* info = ExperimentRegistry::get().find(kind);
  if (!info) throw std::logic_error("run_to_end: no experiment '" + kind + "'");
  ShellOptions o;
  o.threads = setup.threads;
  o.quiet = true;
  Shell::Impl I(*info, setup.net, setup.comm, o);
  I.standalone = true;
  I.quiet_log = setup.log;
  I.experiment = &experiment;
  I.first_position = experiment.done();
  Shell shell(I);
  experiment.run(shell);
  comm::agree(setup.comm, [&] { experiment.finish(nullptr); });
}

// ------------------------------------------------------------------------------------------------
int start(const ExperimentInfo& kind, const model::Network& net, comm::Communicator& comm,
          ShellOptions options) {
  Shell::Impl I(kind, net, comm, std::move(options));
  I.make_policy(nullptr);
  I.build();
  I.print_start("");
  I.open_file(false);
  return I.run_and_finish();
}

namespace {

// The newest checkpoint of `given`, or "finished:<result>" if its run has finished.
std::string locate(const std::filesystem::path& given, comm::Communicator& comm) {
  std::string located, error;
  if (comm.rank() == 0) {
    try {
      if (std::filesystem::exists(given / "finished")) {
        std::ifstream in(given / "finished");
        std::string result;
        std::getline(in, result);
        located = "finished:" + result;
      } else {
        located = checkpoint::locate(given).string();
      }
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  comm.broadcast(error, 0);
  if (!error.empty()) throw UserError(error);
  comm.broadcast(located, 0);
  return located;
}

// When the newest checkpoint of a directory is refused, the one before it may be intact: say which.
std::string older_checkpoint(const std::filesystem::path& where, const std::filesystem::path& refused) {
  const auto all = checkpoint::list(where);
  const auto it = std::find(all.begin(), all.end(), refused);
  if (it == all.end() || it == all.begin()) return "";
  const auto older = *std::prev(it);
  return fmt::format(
      "; the checkpoint before it may be intact: plexus resume {} (remove or move the damaged "
      "one to make that the newest)",
      older.string());
}

model::Network network_of(const checkpoint::Manifest& m, const std::filesystem::path& ckpt, bool root) {
  if (m.plexus_version != version::version())
    throw UserError(fmt::format("checkpoint '{}' was written by Plexus {}; this is Plexus {}", ckpt.string(),
                                m.plexus_version, version::version()));
  if (root && m.git_hash != version::git_hash())
    std::cerr << fmt::format(
        "plexus: warning: checkpoint written by build {}, this is build {}; the result may differ in the "
        "last bits "
        "from an uninterrupted run\n",
        m.git_hash, version::git_hash());
  auto config = model::Config::parse(m.config_text, m.config_source, m.config_overrides);
  config.set_base_dir(m.config_base_dir);
  model::Network net = model::Network::from_config(config);
  if (net.run.steps != m.total_steps || net.config.to_toml() != m.config_toml)
    throw UserError(fmt::format("checkpoint '{}' is mismatched: its config does not reproduce its network",
                                ckpt.string()));
  return net;
}

}  // namespace

int resume(const std::filesystem::path& where, comm::Communicator& comm, ShellOptions options) {
  const bool root = comm.rank() == 0;
  const std::string located = locate(where, comm);
  if (located.rfind("finished:", 0) == 0) {
    if (root && options.out)
      *options.out << fmt::format("the run in {} has finished; its result is {}\n", where.string(),
                                  located.substr(9));
    return kExitOk;
  }
  const std::filesystem::path ckpt = located;
  std::unique_ptr<checkpoint::Snapshot> held;
  try {
    held = std::make_unique<checkpoint::Snapshot>(ckpt, comm);
  } catch (const UserError& e) {
    throw UserError(std::string(e.what()) + older_checkpoint(where, ckpt));
  }
  checkpoint::Snapshot& snapshot = *held;
  const auto& m = snapshot.manifest();
  const auto kind_name = m.texts.find("run/experiment");
  const ExperimentInfo* kind =
      kind_name == m.texts.end() ? nullptr : ExperimentRegistry::get().find(kind_name->second);
  if (!kind)
    throw UserError(
        fmt::format("checkpoint '{}' was written by 'plexus {}' for a run this build cannot continue",
                    ckpt.string(), m.command));
  const model::Network net = network_of(m, ckpt, root);
  if (!m.result_file.empty())
    options.output = options.output ? options.output : std::optional<std::filesystem::path>(m.result_file);
  else if (options.output)
    throw UserError("the checkpointed run wrote no result file; -o does not apply");

  Shell::Impl I(*kind, net, comm, std::move(options));
  I.snapshot = &snapshot;
  const auto& r = snapshot.reader();
  Policy saved;
  saved.dir = ckpt.parent_path();
  saved.every_text = m.texts.count("run/checkpoint_every") ? m.texts.at("run/checkpoint_every") : "";
  saved.keep =
      m.integers.count("run/checkpoint_keep") ? static_cast<int>(m.integers.at("run/checkpoint_keep")) : 2;
  I.make_policy(&saved);
  I.resumes = m.integers.count("run/resumes") ? m.integers.at("run/resumes") + 1 : 1;
  I.wall_before = r.real("run/wall_seconds");
  I.build();
  r.set_copy(I.experiment->state_is_copy());
  for (auto* c : I.experiment->state()) comm::agree(comm, [&] { c->load(r); });
  r.set_copy(false);
  I.print_start(ckpt.string());
  I.open_file(true);
  return I.run_and_finish();
}

// ------------------------------------------------------------------------------------------------
int Shell::threads() const {
  return impl_.threads;
}
const model::Network& Shell::network() const {
  return impl_.net;
}
comm::Communicator& Shell::comm() const {
  return impl_.comm;
}
std::ostream* Shell::log() const {
  return impl_.log();
}

void Shell::say(const std::string& line) const {
  if (auto* l = impl_.log()) {
    *l << "[plexus] " << line << "\n";
    l->flush();
  }
}

bool Shell::progress_due(bool force, double seconds) {
  const auto now = Clock::now();
  if (!force && std::chrono::duration<double>(now - impl_.last_line).count() < seconds) return false;
  impl_.last_line = now;
  return true;
}

std::string Shell::eta(std::int64_t position) const {
  const auto done = position - impl_.first_position;
  const auto left = impl_.experiment->total() - position;
  const double el = since(impl_.started);
  return "ETA " + human_seconds(done > 0 ? el * static_cast<double>(left) / static_cast<double>(done) : 0.0);
}

bool Shell::checkpointing() const {
  return impl_.policy.has_value();
}

std::int64_t Shell::next_point(std::int64_t position, std::int64_t end) const {
  if (!impl_.policy) return end;
  const auto& c = *impl_.policy;
  std::int64_t next = std::min(end, (position / c.poll + 1) * c.poll);
  if (c.every > 0) next = std::min(next, (position / c.every + 1) * c.every);
  if (c.stop_at > position) next = std::min(next, c.stop_at);
  return next;
}

bool Shell::checkpoint_point(std::int64_t position) {
  auto& I = impl_;
  if (!I.policy || position >= I.experiment->total()) return false;
  const auto& c = *I.policy;
  // All ranks agree on what to do here: the first rank's stop signal, rank 0's clock.
  const bool wall_due =
      I.root && c.every_wall_seconds > 0 && since(I.last_checkpoint) >= c.every_wall_seconds;
  const auto votes =
      I.comm.allgather(static_cast<std::uint64_t>(checkpoint::stop_signal()) * 2 + (wall_due ? 1 : 0));
  int sig = 0;
  bool wall = false;
  for (auto v : votes) {
    if (!sig && v / 2) sig = static_cast<int>(v / 2);
    wall = wall || (v & 1);
  }
  // Positions may advance by more than one between points (a tempotron chunk): an interval or a
  // --stop-at counts when it is reached or passed since the last point.
  const std::int64_t before = I.last_point < 0 ? I.first_position : I.last_point;
  I.last_point = position;
  const bool count_due = c.every > 0 && position / c.every > before / c.every;
  const bool stop_here = c.stop_at > 0 && position >= c.stop_at && before < c.stop_at;
  if (count_due || wall || sig || stop_here) {
    const std::string reason = sig         ? checkpoint::signal_name(sig)
                               : stop_here ? (I.kind.positions.steps ? "--stop-at-ms" : "--stop-at-iteration")
                               : count_due ? "every " + c.every_text
                                           : "wall clock";
    I.checkpoint_now(reason, position);
    I.last_checkpoint = Clock::now();
  }
  if (sig || stop_here) {
    I.stopped = true;
    I.stop_signal = sig;
    return true;
  }
  return false;
}

bool Shell::stopped() const {
  return impl_.stopped;
}

bool Shell::iteration_done(std::int64_t iteration,
                           const std::vector<std::pair<std::string, double>>& values) {
  if (!impl_.opt.on_iteration) return true;
  // Every rank calls it (each may keep its own view), rank 0 decides for all.
  std::string go = impl_.opt.on_iteration(iteration, values) ? "1" : "0";
  impl_.comm.broadcast(go, 0);
  return go == "1";
}

}  // namespace plexus::train
