// Training with e-prop (SPEC 4.1).
//
// Trials run through the ordinary step schedule (sim/simulation.cpp) with two additions in
// phase 7 of every step:
//   serial (master thread, after every readout of the step is known)
//     - the step's spikes (all ranks' neurons and the task inputs, sorted by gid) enter a short
//       history, from which the presynaptic traces of every plastic projection take the spikes
//       that arrive now (sent d steps ago);
//     - readout errors err_k^t (softmax minus target inside the loss window, or y - y*), the loss
//       and the decision are formed from the readouts, which every rank holds alike.
//   parallel (every thread, its own block of target neurons)
//     - learning signal L_j^t = sum_k B_jk err_k^t + rate regularisation, then the eligibility
//       traces and gradients of the neuron's incoming synapses (learning/eprop.hpp); readout
//       synapses get their exact gradient.
// Every rank computes the same readout values, errors and learning signals for its neurons from
// the same globally exchanged spikes, and every gradient is a sum over time of products formed in
// the same order whatever the partition, so trained weights are bit-identical for any number of
// ranks and threads. At the end of a batch: optional gradient-norm clipping (the norm summed per
// neuron, then over neurons in gid order), then Adam or gradient descent on every synapse, with
// Dale's law kept by clipping at zero.
#include "plexus/sim/trainer.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>

#include <fmt/format.h>

#include "plexus/core/error.hpp"
#include "plexus/core/memory.hpp"
#include "plexus/core/version.hpp"
#include "plexus/io/result_file.hpp"
#include "plexus/learning/eprop.hpp"
#include "plexus/learning/optimizer.hpp"
#include "plexus/learning/plastic.hpp"
#include "plexus/sim/simulation.hpp"
#include "plexus/sim/simulation_impl.hpp"

namespace plexus::sim {

namespace {

using Clock = std::chrono::steady_clock;
using model::Range;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string human_seconds(double s) {
  if (s < 60) return fmt::format("{:.0f}s", s);
  if (s < 3600) return fmt::format("{:.0f}m{:02.0f}s", std::floor(s / 60), std::fmod(s, 60.0));
  return fmt::format("{:.0f}h{:02.0f}m", std::floor(s / 3600), std::floor(std::fmod(s, 3600.0) / 60));
}

// What the rule reads every step; written by the master thread in the serial part.
struct Shared {
  std::size_t K = 0;             // outputs
  std::vector<double> err;       // err_k^t
  bool learning = false;         // accumulating gradients in this trial
  double kappa = 0.0;            // readout decay (filter of the eligibility traces)
  std::vector<std::vector<Gid>> history;  // spikes of the last H steps (slot t mod H)
};

struct LearnPop {
  int pop = 0;
  neuron::LearningView view;
  std::vector<double> psi_prev;  // per local neuron
  std::vector<double> B;         // feedback, local neuron x K
  std::vector<double> reg;       // rate-regularisation learning signal per local neuron
};

struct RuleBase {
  virtual ~RuleBase() = default;
  virtual void begin_trial() = 0;
  virtual void serial(Step t) = 0;
  virtual void parallel(Step t, int th) = 0;
  virtual double local_square_sum(std::vector<double>& per_gid, double& replicated) const = 0;
  virtual void apply(const learning::Optimizer::Step& s, double scale) = 0;
  virtual void local_gradient(int proj, std::vector<SynapseValue>& out) const = 0;
  virtual std::uint64_t state_bytes() const = 0;
  virtual std::uint64_t index_bytes() const = 0;
  virtual std::uint64_t synapses() const = 0;
};

template <class Real>
class Eprop final : public RuleBase {
 public:
  struct Proj {
    int index = 0, source = 0, target = 0;
    bool readout = false, adaptive = false;
    Step delay = 0;
    double decay = 0.0, gain = 1.0;
    learning::SignRule sign = learning::SignRule::Any;
    int learn_pop = -1;  // index into pops_ (non-readout)
    std::vector<learning::PlasticBlock<Real>> blocks;
    std::vector<Real> ev, ev_prev;
  };

  Eprop(Simulation::Impl& S, Shared& sh, std::vector<LearnPop>& lp, const std::vector<int>& plastic, bool adam)
      : S_(S), sh_(sh), pops_(lp) {
    for (int pi : plastic) {
      const auto& spec = S.net.projections[static_cast<std::size_t>(pi)];
      const auto& proj = S.projs[static_cast<std::size_t>(pi)];
      const auto& tgt = S.pops[static_cast<std::size_t>(spec.target)];
      Proj p;
      p.index = pi;
      p.source = spec.source;
      p.target = spec.target;
      p.readout = tgt.readout();
      p.delay = proj.delay();
      const auto view = *tgt.model->learning_view();
      if (!p.readout) {
        for (std::size_t i = 0; i < lp.size(); ++i)
          if (lp[i].pop == spec.target) p.learn_pop = static_cast<int>(i);
        p.adaptive = view.beta != nullptr;
        p.decay = view.alpha;
      } else {
        p.decay = sh.kappa;
        p.gain = 1.0 - sh.kappa;
      }
      const auto dale = S.net.populations[static_cast<std::size_t>(spec.source)].dale;
      p.sign = dale == model::Dale::Excitatory   ? learning::SignRule::NonNegative
               : dale == model::Dale::Inhibitory ? learning::SignRule::NonPositive
                                                 : learning::SignRule::Any;
      for (const auto& blk : proj.blocks())
        p.blocks.push_back(learning::PlasticBlock<Real>::build(blk, p.adaptive, adam, p.readout));
      const auto n_source = S.net.populations[static_cast<std::size_t>(spec.source)].size;
      p.ev.assign(n_source, Real(0));
      p.ev_prev.assign(n_source, Real(0));
      projs_.push_back(std::move(p));
    }
  }

  void begin_trial() override {
    for (auto& p : projs_) {
      std::fill(p.ev.begin(), p.ev.end(), Real(0));
      std::fill(p.ev_prev.begin(), p.ev_prev.end(), Real(0));
      for (auto& b : p.blocks) b.reset_traces();
    }
  }

  void serial(Step t) override {
    // Presynaptic traces with the spikes that arrive at step t (sent at t - d).
    const std::size_t H = sh_.history.size();
    for (auto& p : projs_) {
      std::swap(p.ev, p.ev_prev);
      const Real d = static_cast<Real>(p.decay);
      const std::size_t n = p.ev.size();
      Real* __restrict ev = p.ev.data();
      const Real* __restrict prev = p.ev_prev.data();
      for (std::size_t i = 0; i < n; ++i) ev[i] = d * prev[i];
      if (t < p.delay) continue;
      const auto& spikes = sh_.history[static_cast<std::size_t>(t - p.delay) % H];
      const auto& src = S_.net.populations[static_cast<std::size_t>(p.source)];
      auto it = std::lower_bound(spikes.begin(), spikes.end(), src.first_gid);
      const Real gain = static_cast<Real>(p.gain);
      for (; it != spikes.end() && *it < src.first_gid + src.size; ++it) ev[*it - src.first_gid] += gain;
    }
  }

  void parallel(Step, int th) override {
    const std::size_t K = sh_.K;
    const double* err = sh_.err.data();
    if (sh_.learning) {
      for (auto& p : projs_) {
        auto& blk = p.blocks[static_cast<std::size_t>(th)];
        const auto& range = S_.pops[static_cast<std::size_t>(p.target)].blocks[static_cast<std::size_t>(th)];
        const std::size_t rows = blk.row.size() - 1;
        if (p.readout) {
          for (std::size_t r = 0; r < rows; ++r) {
            const double e = err[range.begin + r];
            if (e == 0.0) continue;
            const std::uint32_t a = blk.row[r];
            learning::readout_row<Real>(e, blk.row[r + 1] - a, blk.src.data() + a, p.ev.data(), blk.g.data() + a);
          }
          continue;
        }
        auto& lp = pops_[static_cast<std::size_t>(p.learn_pop)];
        learning::RowStep c;
        c.rho = lp.view.rho;
        c.kappa = sh_.kappa;
        for (std::size_t r = 0; r < rows; ++r) {
          const std::size_t j = range.begin + r;
          double L = lp.reg[j];
          for (std::size_t k = 0; k < K; ++k) L += lp.B[j * K + k] * err[k];
          c.psi_prev = lp.psi_prev[j];
          c.psi = lp.view.psi[j];
          c.beta = lp.view.beta ? lp.view.beta[j] : 0.0;
          c.L = L;
          const std::uint32_t a = blk.row[r];
          const std::size_t n = blk.row[r + 1] - a;
          const std::uint32_t* src = blk.src.data() + a;
          Real* eb = blk.eb.data() + a;
          Real* g = blk.g.data() + a;
          if (p.adaptive && c.beta != 0.0) {
            Real* ea = blk.ea.data() + a;
            if (L != 0.0)
              learning::eprop_row<Real, true, true>(c, n, src, p.ev_prev.data(), p.ev.data(), ea, eb, g);
            else
              learning::eprop_row<Real, true, false>(c, n, src, p.ev_prev.data(), p.ev.data(), ea, eb, g);
          } else if (L != 0.0) {
            learning::eprop_row<Real, false, true>(c, n, src, p.ev_prev.data(), p.ev.data(), nullptr, eb, g);
          } else {
            learning::eprop_row<Real, false, false>(c, n, src, p.ev_prev.data(), p.ev.data(), nullptr, eb, g);
          }
        }
      }
    }
    for (auto& lp : pops_) {
      const auto& range = S_.pops[static_cast<std::size_t>(lp.pop)].blocks[static_cast<std::size_t>(th)];
      for (Gid j = range.begin; j < range.end; ++j) lp.psi_prev[j] = lp.view.psi[j];
    }
  }

  double local_square_sum(std::vector<double>& per_gid, double& replicated) const override {
    for (const auto& p : projs_) {
      const auto& ps = S_.pops[static_cast<std::size_t>(p.target)];
      if (p.readout) {
        for (const auto& b : p.blocks)
          for (auto x : b.g) replicated += static_cast<double>(x) * static_cast<double>(x);
        continue;
      }
      for (std::size_t bi = 0; bi < p.blocks.size(); ++bi)
        p.blocks[bi].row_square_sums(per_gid.data() + ps.spec->first_gid + ps.local.begin + ps.blocks[bi].begin);
    }
    return 0.0;
  }

  void apply(const learning::Optimizer::Step& s, double scale) override {
    for (auto& p : projs_) {
      auto& proj = S_.projs[static_cast<std::size_t>(p.index)];
      for (std::size_t bi = 0; bi < p.blocks.size(); ++bi) p.blocks[bi].apply(proj.blocks()[bi], s, scale, p.sign);
    }
  }

  void local_gradient(int proj, std::vector<SynapseValue>& out) const override {
    for (const auto& p : projs_) {
      if (p.index != proj) continue;
      const auto& ps = S_.pops[static_cast<std::size_t>(p.target)];
      for (std::size_t bi = 0; bi < p.blocks.size(); ++bi) {
        const auto& b = p.blocks[bi];
        for (std::size_t r = 0; r + 1 < b.row.size(); ++r)
          for (std::uint32_t k = b.row[r]; k < b.row[r + 1]; ++k)
            out.push_back({b.src[k], ps.local.begin + ps.blocks[bi].begin + r, static_cast<double>(b.g[k])});
      }
    }
  }

  std::uint64_t state_bytes() const override {
    std::uint64_t n = 0;
    for (const auto& p : projs_)
      for (const auto& b : p.blocks)
        if (!p.readout || S_.comm.rank() == 0) n += b.state_bytes();
    return n;
  }
  std::uint64_t index_bytes() const override {
    std::uint64_t n = 0;
    for (const auto& p : projs_)
      for (const auto& b : p.blocks)
        if (!p.readout || S_.comm.rank() == 0) n += b.bytes() - b.state_bytes();
    return n;
  }
  std::uint64_t synapses() const override {
    std::uint64_t n = 0;
    for (const auto& p : projs_)
      for (const auto& b : p.blocks)
        if (!p.readout || S_.comm.rank() == 0) n += b.synapses();
    return n;
  }

 private:
  Simulation::Impl& S_;
  Shared& sh_;
  std::vector<LearnPop>& pops_;
  std::vector<Proj> projs_;
};

}  // namespace

struct Trainer::Impl {
  const model::Network& net;
  comm::Communicator& comm;
  TrainOptions opt;
  std::unique_ptr<Simulation> sim;
  Simulation::Impl* S = nullptr;
  std::unique_ptr<task::Task> task;
  int readout_pop = -1;
  std::vector<int> plastic;
  std::vector<LearnPop> lpops;
  Shared sh;
  std::unique_ptr<RuleBase> rule;
  learning::Optimizer optimizer;

  // [train]
  std::int64_t iterations = 100, batch = 64, validation_every = 10, validation_trials = 64, test_trials = 256;
  double target_accuracy = 2.0;  // > 1: no early stopping
  double reg_rate_hz = 10.0, reg_coefficient = 0.0, clip_norm = 0.0;
  bool random_feedback = false;
  std::int64_t example_cells = 4;

  // Per trial.
  Step T = 0, window_begin = 0;
  double loss_sum = 0.0;
  std::vector<double> ysum, target_buf;
  int label = -1;
  std::vector<std::uint64_t> counts;  // spikes per gid over the current batch
  std::uint64_t trials_in_batch = 0;

  // Example capture (before / after training).
  bool capture = false;
  std::vector<double> cap_times;
  std::vector<Gid> cap_gids;
  std::vector<double> cap_y;
  std::vector<std::pair<int, Gid>> cap_cells;  // (population, population-local id)
  std::vector<double> cap_v;                   // T x cells, own cells only (others zero)

  Impl(const model::Network& n, comm::Communicator& c, TrainOptions o) : net(n), comm(c), opt(std::move(o)) {}

  void configure();
  void serial(Step t);
  void refresh_feedback();
  TrialResult run_trial(task::Stream stream, std::uint64_t index, bool learning);
  void end_batch();
  std::vector<SynapseValue> gather(std::vector<SynapseValue> local) const;
};

void Trainer::Impl::configure() {
  const auto& tr = *net.train;
  tr.allow_only({"rule", "iterations", "batch_size", "optimizer", "learning_rate", "adam_beta1", "adam_beta2",
                 "adam_epsilon", "feedback", "precision", "plastic", "reg_rate_hz", "reg_coefficient",
                 "clip_grad_norm", "validation_every", "validation_trials", "test_trials", "target_accuracy",
                 "example_cells"});
  tr.choice("rule", {"eprop"}, "eprop");
  iterations = tr.integer_or("iterations", 100, Range::closed(0, 1e9));
  batch = tr.integer_or("batch_size", 64, Range::closed(1, 1e7));
  optimizer.kind = tr.choice("optimizer", {"adam", "sgd"}, "adam") == "adam" ? learning::Optimizer::Kind::Adam
                                                                            : learning::Optimizer::Kind::Sgd;
  optimizer.learning_rate = tr.number_or("learning_rate", 0.005, Range::non_negative());
  optimizer.beta1 = tr.number_or("adam_beta1", 0.9, Range::closed(0, 1));
  optimizer.beta2 = tr.number_or("adam_beta2", 0.999, Range::closed(0, 1));
  optimizer.epsilon = tr.number_or("adam_epsilon", 1e-8, Range::positive());
  random_feedback = tr.choice("feedback", {"symmetric", "random"}, "symmetric") == "random";
  const bool float64 = tr.choice("precision", {"float32", "float64"}, "float32") == "float64";
  reg_rate_hz = tr.number_or("reg_rate_hz", 10.0, Range::non_negative());
  reg_coefficient = tr.number_or("reg_coefficient", 0.0, Range::non_negative());
  clip_norm = tr.number_or("clip_grad_norm", 0.0, Range::non_negative());
  validation_every = tr.integer_or("validation_every", 10, Range::closed(0, 1e9));
  validation_trials = tr.integer_or("validation_trials", 64, Range::closed(0, 1e9));
  test_trials = tr.integer_or("test_trials", 256, Range::closed(0, 1e9));
  target_accuracy = tr.number_or("target_accuracy", 2.0, Range::non_negative());
  example_cells = tr.integer_or("example_cells", 4, Range::closed(0, 1000));

  task = task::make(*net.task, net.run.dt_ms, net.run.seed);
  T = task->steps();
  window_begin = task->window_begin();
  sh.K = task->outputs();
  sh.err.assign(sh.K, 0.0);
  ysum.assign(sh.K, 0.0);
  target_buf.assign(sh.K, 0.0);

  // Populations: task inputs must match the task, exactly one readout with one neuron per output.
  for (std::size_t p = 0; p < S->pops.size(); ++p) {
    const auto& ps = S->pops[p];
    if (ps.spec->model == "task_input" && ps.spec->size != task->channels())
      ps.spec->node.at("size").fail(fmt::format("the task '{}' has {} input channels; this population has {}",
                                                task->kind(), task->channels(), ps.spec->size));
    if (ps.readout()) {
      if (readout_pop >= 0) ps.spec->node.fail("training supports one readout population");
      readout_pop = static_cast<int>(p);
      if (ps.spec->size != sh.K)
        ps.spec->node.at("size").fail(
            fmt::format("the task '{}' has {} outputs; this readout has {}", task->kind(), sh.K, ps.spec->size));
    }
  }
  if (readout_pop < 0) tr.fail("training needs a readout population (model = \"readout\")");
  sh.kappa = S->pops[static_cast<std::size_t>(readout_pop)].model->learning_view()->kappa;

  // Plastic projections: as listed, or every projection onto a learning-form neuron or the readout.
  auto trainable = [&](const model::ProjectionSpec& spec) {
    const auto lv = S->pops[static_cast<std::size_t>(spec.target)].model->learning_view();
    return lv.has_value();
  };
  if (tr.has("plastic")) {
    const auto node = tr.at("plastic");
    for (const auto& name : node.as_string_array()) {
      const auto it = std::find_if(net.projections.begin(), net.projections.end(),
                                   [&](const auto& p) { return p.name == name; });
      if (it == net.projections.end()) node.fail(fmt::format("no projection named '{}'", name));
      if (!trainable(*it))
        node.fail(fmt::format("projection '{}' targets '{}', which is neither a learning-form neuron (lif, alif) "
                              "nor a readout",
                              name, net.populations[static_cast<std::size_t>(it->target)].name));
      plastic.push_back(it->index);
    }
  } else {
    for (const auto& spec : net.projections)
      if (trainable(spec)) plastic.push_back(spec.index);
  }
  std::size_t max_delay = 0;
  for (int pi : plastic) {
    const auto& spec = net.projections[static_cast<std::size_t>(pi)];
    const auto& proj = S->projs[static_cast<std::size_t>(pi)];
    if (!proj.constant_delay())
      spec.node.fail("a plastic projection needs one delay for all its synapses (e-prop keeps one "
                     "presynaptic trace per source)");
    const auto& tgt = S->pops[static_cast<std::size_t>(spec.target)];
    if (tgt.readout() && proj.delay() != 0)
      spec.node.at("delay_ms").fail("projections into the readout must have delay 0 (y^t reads z^t)");
    max_delay = std::max<std::size_t>(max_delay, proj.delay());
    if (!tgt.readout() &&
        std::none_of(lpops.begin(), lpops.end(), [&](const LearnPop& l) { return l.pop == spec.target; })) {
      LearnPop lp;
      lp.pop = spec.target;
      lp.psi_prev.assign(tgt.local.size(), 0.0);
      lp.B.assign(tgt.local.size() * sh.K, 0.0);
      lp.reg.assign(tgt.local.size(), 0.0);
      lpops.push_back(std::move(lp));
    }
  }
  sh.history.assign(max_delay + 1, {});
  counts.assign(net.total_neurons, 0);
  const bool adam = optimizer.kind == learning::Optimizer::Kind::Adam;
  if (float64)
    rule = std::make_unique<Eprop<double>>(*S, sh, lpops, plastic, adam);
  else
    rule = std::make_unique<Eprop<float>>(*S, sh, lpops, plastic, adam);

  // Cells whose membrane potential example trials keep: evenly spaced in each learning population.
  for (const auto& lp : lpops) {
    const auto size = net.populations[static_cast<std::size_t>(lp.pop)].size;
    const auto n = std::min<Gid>(size, static_cast<Gid>(example_cells));
    for (Gid c = 0; c < n; ++c) cap_cells.push_back({lp.pop, c * size / n});
  }
  S->task = task.get();
  S->learn.serial = [this](Step t) { serial(t); };
  S->learn.parallel = [this](Step t, int th) { rule->parallel(t, th); };
  refresh_feedback();
}

void Trainer::Impl::refresh_feedback() {
  const std::size_t K = sh.K;
  for (auto& lp : lpops) {
    std::fill(lp.B.begin(), lp.B.end(), 0.0);
    const auto& ps = S->pops[static_cast<std::size_t>(lp.pop)];
    if (random_feedback) {
      // Fixed random feedback, keyed by neuron gid and output.
      const double scale = 1.0 / std::sqrt(static_cast<double>(ps.spec->size));
      for (std::size_t j = 0; j < ps.local.size(); ++j) {
        rng::Stream s(net.run.seed, rng::Purpose::Feedback, ps.spec->first_gid + ps.local.begin + j);
        for (std::size_t k = 0; k < K; ++k) lp.B[j * K + k] = s.normal() * scale;
      }
      continue;
    }
    // Symmetric feedback: B_jk = W_out_kj, from the readout projections of this population (every
    // rank holds all readout synapses).
    for (const auto& spec : net.projections) {
      if (spec.source != lp.pop || spec.target != readout_pop) continue;
      for (const auto& blk : S->projs[static_cast<std::size_t>(spec.index)].blocks())
        for (std::size_t j = 0; j < ps.local.size(); ++j) {
          const Gid s = ps.local.begin + j;
          for (std::uint32_t k = blk.offset[s]; k < blk.offset[s + 1]; ++k)
            lp.B[j * K + blk.target[k]] += static_cast<double>(blk.weight[k]);
        }
    }
  }
}

void Trainer::Impl::serial(Step t) {
  // This step's spikes, network and task inputs, sorted by gid.
  auto& h = sh.history[static_cast<std::size_t>(t) % sh.history.size()];
  h.assign(S->global_spikes.begin(), S->global_spikes.end());
  const std::size_t mid = h.size();
  h.insert(h.end(), S->gen_spikes.begin(), S->gen_spikes.end());
  std::inplace_merge(h.begin(), h.begin() + static_cast<std::ptrdiff_t>(mid), h.end());
  for (Gid g : S->global_spikes) ++counts[g];
  rule->serial(t);

  // Readout errors, loss and decision.
  const std::size_t K = sh.K;
  const double* y = S->pops[static_cast<std::size_t>(readout_pop)].model->learning_view()->y;
  const bool in_window = t >= window_begin;
  const double norm = 1.0 / (static_cast<double>(batch) * static_cast<double>(T - window_begin));
  if (!in_window) {
    std::fill(sh.err.begin(), sh.err.end(), 0.0);
  } else if (task->classification()) {
    double mx = y[0];
    for (std::size_t k = 1; k < K; ++k) mx = std::max(mx, y[k]);
    double z = 0.0;
    for (std::size_t k = 0; k < K; ++k) z += std::exp(y[k] - mx);
    for (std::size_t k = 0; k < K; ++k) {
      const double pi = std::exp(y[k] - mx) / z;
      sh.err[k] = (pi - (static_cast<int>(k) == label ? 1.0 : 0.0)) * norm;
      ysum[k] += y[k];
    }
    loss_sum += -(y[label] - mx - std::log(z));
  } else {
    task->target(t, target_buf.data());
    for (std::size_t k = 0; k < K; ++k) {
      const double d = y[k] - target_buf[k];
      sh.err[k] = d * norm;
      loss_sum += 0.5 * d * d;
    }
  }
  if (!sh.learning) std::fill(sh.err.begin(), sh.err.end(), 0.0);

  if (capture) {
    for (Gid g : h) {
      cap_times.push_back(net.step_to_ms(t));
      cap_gids.push_back(g);
    }
    for (std::size_t k = 0; k < K; ++k) cap_y.push_back(y[k]);
    for (const auto& [pop, id] : cap_cells) {
      const auto& ps = S->pops[static_cast<std::size_t>(pop)];
      const double* v = ps.model->variable("v");
      cap_v.push_back(ps.local.contains(id) && v ? v[id - ps.local.begin] : 0.0);
    }
  }
}

TrialResult Trainer::Impl::run_trial(task::Stream stream, std::uint64_t index, bool learning) {
  S->reset_trial();
  task->begin_trial(stream, index);
  label = task->label();
  for (auto& lp : lpops) {
    lp.view = *S->pops[static_cast<std::size_t>(lp.pop)].model->learning_view();
    std::fill(lp.psi_prev.begin(), lp.psi_prev.end(), 0.0);
  }
  for (auto& hh : sh.history) hh.clear();
  sh.learning = learning;
  rule->begin_trial();
  loss_sum = 0.0;
  std::fill(ysum.begin(), ysum.end(), 0.0);
  std::uint64_t before = 0;
  for (const auto& lp : lpops) {
    const auto& spec = net.populations[static_cast<std::size_t>(lp.pop)];
    for (Gid g = spec.first_gid; g < spec.first_gid + spec.size; ++g) before += counts[g];
  }
  S->step_range(T);

  TrialResult r;
  r.loss = loss_sum / static_cast<double>(T - window_begin);
  if (task->classification()) {
    const auto best = std::max_element(ysum.begin(), ysum.end()) - ysum.begin();
    r.correct = best == label;
  }
  std::uint64_t after = 0, cells = 0;
  for (const auto& lp : lpops) {
    const auto& spec = net.populations[static_cast<std::size_t>(lp.pop)];
    cells += spec.size;
    for (Gid g = spec.first_gid; g < spec.first_gid + spec.size; ++g) after += counts[g];
  }
  r.rate_hz = cells ? static_cast<double>(after - before) / static_cast<double>(cells) /
                          (static_cast<double>(T) * net.run.dt_ms * 1e-3)
                    : 0.0;
  if (learning) ++trials_in_batch;
  return r;
}

void Trainer::Impl::end_batch() {
  // Rate regularisation R = c/2 sum_j (f_j - f0)^2, rates in spikes per step averaged over the batch;
  // its learning signal c (f_j - f0) / (B T) uses this batch's rates during the next batch (the
  // rates are known only at the end of a batch; see docs/learning.md).
  const double steps = static_cast<double>(std::max<std::uint64_t>(trials_in_batch, 1)) * static_cast<double>(T);
  const double f0 = reg_rate_hz * net.run.dt_ms * 1e-3;
  for (auto& lp : lpops) {
    const auto& ps = S->pops[static_cast<std::size_t>(lp.pop)];
    for (std::size_t j = 0; j < ps.local.size(); ++j) {
      const double f = static_cast<double>(counts[ps.spec->first_gid + ps.local.begin + j]) / steps;
      lp.reg[j] = reg_coefficient * (f - f0) / (static_cast<double>(batch) * static_cast<double>(T));
    }
  }
  std::fill(counts.begin(), counts.end(), 0);
  trials_in_batch = 0;

  double scale = 1.0;
  if (clip_norm > 0.0) {
    // Partition-independent norm: a sum per neuron (its row), placed by gid, then summed in gid order.
    std::vector<double> per_gid(net.total_neurons, 0.0);
    double replicated = 0.0;
    rule->local_square_sum(per_gid, replicated);
    comm.sum_in_rank_order(per_gid);
    double total = 0.0;
    for (double x : per_gid) total += x;
    const double norm = std::sqrt(total + replicated);
    if (norm > clip_norm) scale = clip_norm / norm;
  }
  rule->apply(optimizer.next(), scale);
  ++optimizer.steps;
  refresh_feedback();
}

std::vector<SynapseValue> Trainer::Impl::gather(std::vector<SynapseValue> local) const {
  const auto pl = comm.place(local.size());
  std::vector<double> all(pl.total * 3, 0.0);
  for (std::size_t i = 0; i < local.size(); ++i) {
    all[3 * (pl.offset + i)] = static_cast<double>(local[i].source);
    all[3 * (pl.offset + i) + 1] = static_cast<double>(local[i].target);
    all[3 * (pl.offset + i) + 2] = local[i].value;
  }
  comm.sum_in_rank_order(all);
  std::vector<SynapseValue> out(pl.total);
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = {static_cast<std::uint64_t>(all[3 * i]), static_cast<std::uint64_t>(all[3 * i + 1]), all[3 * i + 2]};
  return out;
}

// ------------------------------------------------------------------------------------------------
Trainer::Trainer(const model::Network& net, comm::Communicator& comm, TrainOptions options)
    : impl_(std::make_unique<Impl>(net, comm, std::move(options))) {
  auto& I = *impl_;
  if (!net.train || !net.task) throw UserError(net.config.source_name() + ": the model has no [train] and [task] sections");
  Options so;
  so.threads = I.opt.threads;
  I.sim = std::make_unique<Simulation>(net, comm, so);
  I.S = I.sim->impl_.get();
  agree(comm, [&] { I.configure(); });
}

Trainer::~Trainer() = default;

task::Task& Trainer::task() {
  return *impl_->task;
}
int Trainer::batch_size() const {
  return static_cast<int>(impl_->batch);
}

TrialResult Trainer::trial(task::Stream stream, std::uint64_t index, bool learning) {
  return impl_->run_trial(stream, index, learning);
}

void Trainer::end_batch() {
  impl_->end_batch();
}

std::vector<SynapseValue> Trainer::gradient(const std::string& projection) const {
  const auto& I = *impl_;
  const auto* spec = [&]() -> const model::ProjectionSpec* {
    for (const auto& p : I.net.projections)
      if (p.name == projection) return &p;
    return nullptr;
  }();
  if (!spec) throw UserError("no projection named '" + projection + "'");
  std::vector<SynapseValue> local;
  if (!I.S->part->replicated(spec->target) || I.comm.rank() == 0) I.rule->local_gradient(spec->index, local);
  return I.gather(std::move(local));
}

std::vector<SynapseValue> Trainer::weights(const std::string& projection) const {
  const auto& I = *impl_;
  const model::ProjectionSpec* spec = nullptr;
  for (const auto& p : I.net.projections)
    if (p.name == projection) spec = &p;
  if (!spec) throw UserError("no projection named '" + projection + "'");
  std::vector<SynapseValue> local;
  if (!I.S->part->replicated(spec->target) || I.comm.rank() == 0) {
    const auto& proj = I.S->projs[static_cast<std::size_t>(spec->index)];
    const auto& ps = I.S->pops[static_cast<std::size_t>(spec->target)];
    for (std::size_t b = 0; b < proj.blocks().size(); ++b)
      proj.for_each_by_target(b, [&](Gid s, std::uint32_t j, synapse::Weight w, std::uint16_t) {
        local.push_back({s, ps.local.begin + j, static_cast<double>(w)});
      });
  }
  return I.gather(std::move(local));
}

namespace {

// Initial and trained weights of a projection, in (target, source) order; every rank holds all of
// them, rank 0 writes.
void write_weights(io::ResultFile& f, const model::Network& net, bool root, int proj,
                   const std::vector<std::vector<SynapseValue>>& snapshots) {
  const auto& spec = net.projections[static_cast<std::size_t>(proj)];
  const std::string g = "/weights/" + spec.name;
  f.create_group(g);
  f.attribute(g, "source", net.populations[static_cast<std::size_t>(spec.source)].name);
  f.attribute(g, "target", net.populations[static_cast<std::size_t>(spec.target)].name);
  f.attribute(g, "rows", std::string("initial, trained"));
  const auto& first = snapshots.front();
  std::vector<std::uint64_t> src, tgt;
  for (const auto& s : first) src.push_back(s.source), tgt.push_back(s.target);
  f.write_replicated<std::uint64_t>(g + "/source_ids", src);
  f.write_replicated<std::uint64_t>(g + "/target_ids", tgt);
  f.create_table<double>(g + "/values", first.size(), 1);
  for (const auto& snap : snapshots) {
    std::vector<double> w;
    if (root)
      for (const auto& s : snap) w.push_back(s.value);
    f.append_rows<double>(g + "/values", 1, 0, w.size(), w);
  }
}

}  // namespace

TrainSummary Trainer::run() {
  auto& I = *impl_;
  const bool root = I.comm.rank() == 0;
  TrainSummary sum;
  std::unique_ptr<io::ResultFile> file;
  if (I.opt.output) {
    agree(I.comm, [&] { file = std::make_unique<io::ResultFile>(*I.opt.output, I.comm); });
    auto& f = *file;
    f.create_group("/metadata");
    f.write_text("/metadata/config", I.net.config.to_toml());
    f.attribute("/metadata", "plexus_version", std::string(version::version()));
    f.attribute("/metadata", "git_hash", std::string(version::git_hash()));
    f.attribute("/metadata", "model", I.net.name);
    f.attribute("/metadata", "ranks", static_cast<std::int64_t>(I.comm.size()));
    f.attribute("/metadata", "threads", static_cast<std::int64_t>(I.S->T));
    f.attribute("/metadata", "seed", static_cast<std::int64_t>(I.net.run.seed));
    f.attribute("/metadata", "dt_ms", I.net.run.dt_ms);
    f.attribute("/metadata", "task", I.task->kind());
    f.attribute("/metadata", "trial_steps", static_cast<std::int64_t>(I.T));
    f.attribute("/metadata", "batch_size", static_cast<std::int64_t>(I.batch));
    f.create_group("/training");
    for (const char* d : {"loss", "accuracy", "rate_hz", "seconds"}) f.create_series<double>(std::string("/training/") + d, 1024);
    f.create_group("/validation");
    for (const char* d : {"iteration", "accuracy", "loss"}) f.create_series<double>(std::string("/validation/") + d, 256);
  }
  auto append = [&](const std::string& path, double x) {
    if (!file) return;
    std::vector<double> v;
    if (root) v.push_back(x);
    file->append<double>(path, v);
  };

  std::vector<std::vector<std::vector<SynapseValue>>> snaps(I.plastic.size());
  for (std::size_t i = 0; i < I.plastic.size(); ++i)
    snaps[i].push_back(weights(I.net.projections[static_cast<std::size_t>(I.plastic[i])].name));

  auto example = [&](const std::string& name) {
    I.capture = true;
    I.cap_times.clear(), I.cap_gids.clear(), I.cap_y.clear(), I.cap_v.clear();
    const auto r = I.run_trial(task::Stream::Example, 0, false);
    I.capture = false;
    I.comm.sum_in_rank_order(I.cap_v);  // each cell's values come from its own rank only
    if (!file) return;
    auto& f = *file;
    const std::string g = "/examples/" + name;
    f.create_group(g);
    f.attribute(g, "description", I.task->describe_trial());
    f.attribute(g, "label", static_cast<std::int64_t>(I.task->label()));
    f.attribute(g, "correct", static_cast<std::int64_t>(r.correct));
    f.attribute(g, "window_begin_ms", I.net.step_to_ms(I.window_begin));
    f.create_group(g + "/spikes");
    for (const auto& ps : I.S->pops) {
      if (!ps.info->spiking) continue;
      std::vector<double> ts;
      std::vector<std::uint64_t> ids;
      for (std::size_t k = 0; k < I.cap_gids.size(); ++k)
        if (I.cap_gids[k] >= ps.spec->first_gid && I.cap_gids[k] < ps.spec->first_gid + ps.spec->size) {
          ts.push_back(I.cap_times[k]);
          ids.push_back(I.cap_gids[k] - ps.spec->first_gid);
        }
      const std::string sg = g + "/spikes/" + ps.spec->name;
      f.create_group(sg);
      f.write_replicated<double>(sg + "/timestamps", ts);
      f.write_replicated<std::uint64_t>(sg + "/node_ids", ids);
    }
    f.create_table<double>(g + "/readout", I.sh.K, 256);
    f.append_rows<double>(g + "/readout", static_cast<std::size_t>(I.T), 0, root ? I.sh.K : 0,
                          root ? std::span<const double>(I.cap_y) : std::span<const double>());
    const std::size_t nc = I.cap_cells.size();
    if (nc) {
      f.create_table<double>(g + "/v", nc, 256);
      f.append_rows<double>(g + "/v", static_cast<std::size_t>(I.T), 0, root ? nc : 0,
                            root ? std::span<const double>(I.cap_v) : std::span<const double>());
      std::vector<std::uint64_t> cg;
      for (const auto& [pop, id] : I.cap_cells) cg.push_back(I.net.populations[static_cast<std::size_t>(pop)].first_gid + id);
      f.write_replicated<std::uint64_t>(g + "/v_gids", cg);
    }
    if (!I.task->classification()) {
      std::vector<double> tgt;
      for (Step t = 0; t < I.T; ++t) {
        I.task->target(t, I.target_buf.data());
        tgt.insert(tgt.end(), I.target_buf.begin(), I.target_buf.end());
      }
      f.create_table<double>(g + "/target", I.sh.K, 256);
      f.append_rows<double>(g + "/target", static_cast<std::size_t>(I.T), 0, root ? I.sh.K : 0,
                            root ? std::span<const double>(tgt) : std::span<const double>());
    }
  };

  auto validate = [&](std::int64_t round, std::int64_t n, task::Stream stream) {
    std::int64_t correct = 0;
    double loss = 0.0;
    for (std::int64_t i = 0; i < n; ++i) {
      const auto r = I.run_trial(stream, static_cast<std::uint64_t>(round * n + i), false);
      correct += r.correct;
      loss += r.loss;
    }
    return std::pair{n ? static_cast<double>(correct) / static_cast<double>(n) : 0.0, n ? loss / static_cast<double>(n) : 0.0};
  };

  const auto wall0 = Clock::now();
  example("before");
  if (root && I.opt.log && I.opt.progress)
    *I.opt.log << fmt::format("[plexus] training: {} iterations x {} trials of {} steps, {} plastic synapses\n",
                              I.iterations, I.batch, I.T, I.comm.sum(I.rule->synapses()));
  else
    (void)I.comm.sum(I.rule->synapses());
  double iter_seconds = 0.0;
  std::int64_t it = 0, val_round = 0;
  for (; it < I.iterations; ++it) {
    const auto t0 = Clock::now();
    double loss = 0.0, rate = 0.0;
    std::int64_t correct = 0;
    for (std::int64_t b = 0; b < I.batch; ++b) {
      const auto r = I.run_trial(task::Stream::Train, static_cast<std::uint64_t>(it * I.batch + b), true);
      loss += r.loss;
      correct += r.correct;
      rate += r.rate_hz;
    }
    I.end_batch();
    const double secs = since(t0);
    iter_seconds += secs;
    const double bn = static_cast<double>(I.batch);
    sum.last_loss = loss / bn;
    sum.last_accuracy = static_cast<double>(correct) / bn;
    append("/training/loss", sum.last_loss);
    append("/training/accuracy", sum.last_accuracy);
    append("/training/rate_hz", rate / bn);
    append("/training/seconds", secs);
    std::string val;
    const bool last = it + 1 == I.iterations;
    if (I.validation_trials > 0 && I.validation_every > 0 && ((it + 1) % I.validation_every == 0 || last)) {
      const auto [acc, vloss] = validate(val_round++, I.validation_trials, task::Stream::Validation);
      sum.validation_accuracy = acc;
      append("/validation/iteration", static_cast<double>(it + 1));
      append("/validation/accuracy", acc);
      append("/validation/loss", vloss);
      val = I.task->classification() ? fmt::format("  validation {:.3f}", acc) : fmt::format("  validation loss {:.4f}", vloss);
      if (I.task->classification() && acc >= I.target_accuracy) sum.reached_target = true;
    }
    if (file) file->flush();
    if (root && I.opt.progress && I.opt.log) {
      const double per = iter_seconds / static_cast<double>(it + 1);
      *I.opt.log << fmt::format("[plexus] iteration {}/{}  loss {:.4f}  accuracy {:.3f}  rate {:.1f} Hz  {:.2f} s/it  ETA {}{}\n",
                                it + 1, I.iterations, sum.last_loss, sum.last_accuracy, rate / bn, secs,
                                human_seconds(per * static_cast<double>(I.iterations - it - 1)), val);
      I.opt.log->flush();
    }
    if (sum.reached_target) {
      ++it;
      if (root && I.opt.log && I.opt.progress)
        *I.opt.log << fmt::format("[plexus] validation accuracy reached the target {:.3f}: stopping\n", I.target_accuracy);
      break;
    }
  }
  sum.iterations = it;
  sum.seconds_per_iteration = it ? iter_seconds / static_cast<double>(it) : 0.0;
  example("after");
  if (I.test_trials > 0 && I.task->classification()) sum.test_accuracy = validate(0, I.test_trials, task::Stream::Test).first;
  sum.wall_seconds = since(wall0);
  for (std::size_t i = 0; i < I.plastic.size(); ++i)
    snaps[i].push_back(weights(I.net.projections[static_cast<std::size_t>(I.plastic[i])].name));
  sum.learning_state_bytes = I.comm.allgather(I.rule->state_bytes());
  sum.learning_index_bytes = I.comm.allgather(I.rule->index_bytes());
  sum.plastic_synapses = I.comm.sum(I.rule->synapses());
  sum.synapses = I.sim->summary().synapses;
  sum.peak_rss_bytes = I.comm.allgather(static_cast<std::uint64_t>(memory::peak_rss_bytes()));
  if (file) {
    auto& f = *file;
    agree(I.comm, [&] {
      for (std::size_t i = 0; i < I.plastic.size(); ++i) write_weights(f, I.net, root, I.plastic[i], snaps[i]);
      f.attribute("/training", "iterations", static_cast<std::int64_t>(sum.iterations));
      f.attribute("/training", "seconds_per_iteration", sum.seconds_per_iteration);
      f.attribute("/training", "reached_target", static_cast<std::int64_t>(sum.reached_target));
      f.attribute("/training", "plastic_synapses", static_cast<std::int64_t>(sum.plastic_synapses));
      if (sum.test_accuracy >= 0) {
        f.create_group("/test");
        f.attribute("/test", "accuracy", sum.test_accuracy);
        f.attribute("/test", "trials", static_cast<std::int64_t>(I.test_trials));
      }
      f.attribute("/metadata", "wall_time_s", sum.wall_seconds);
      f.write_replicated<std::uint64_t>("/metadata/peak_rss_bytes", sum.peak_rss_bytes);
      f.write_replicated<std::uint64_t>("/metadata/learning_state_bytes", sum.learning_state_bytes);
      f.commit();
    });
  }
  return sum;
}

}  // namespace plexus::sim
