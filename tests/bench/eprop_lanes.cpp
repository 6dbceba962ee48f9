// Would trial-major lanes make e-prop faster per core? A measurement before building them.
//
// Lanes process L trials together in the synapse loops: the traces of a synapse for L trials sit side
// by side, so one source index serves L trials and the arithmetic vectorises across trials. The
// engine's per-trial kernel (learning/eprop_kernels.hpp) instead skips the rows of neurons that are
// idle in that trial (psi = 0 on this and the last step, no learning signal) and folds the decay they
// owe into their next busy step. A lane row can only be skipped when all L trials are idle there, and
// to give the same bits as one trial at a time, its idle lanes must keep their values (masked).
//
// This program runs both on a row layout like the cortex's recurrent E/I projection (800 targets,
// 160 random sources each, ALIF) with each row busy in each trial with probability p per step
// (independently per trial), checks that both give the same bits, and prints synapse-steps per second
// on one core (every synapse of every trial advanced by one step counts once, skipped or not).
//   plexus_bench_eprop_lanes [busy fraction, default 0.19 as measured on the cortex] [steps]
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "plexus/learning/eprop_kernels.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using plexus::learning::RowStep;

constexpr std::size_t kRows = 800, kSources = 800, kPerRow = 160;
constexpr float kRho = 0.995f, kKappa = 0.95f, kAlpha = 0.95f;

struct Net {
  std::vector<std::uint32_t> src;  // row-major, kPerRow per row, sorted
  std::vector<float> beta;         // per row
};

// Per-trial inputs of one step: psi per row, busy per row, presynaptic traces per source.
struct Step {
  std::vector<float> psi;
  std::vector<std::uint8_t> busy;
};

// One trial's state, as the engine keeps it.
struct Trial {
  std::vector<float> ea, eb, g, psi_prev, ev, ev_prev;
  std::vector<std::uint32_t> idle;
};

double owed(float f, std::uint32_t n) {
  return std::pow(static_cast<double>(f), static_cast<double>(n));
}

// The engine's way: one trial at a time, idle rows skipped and their decay owed.
void step_single(const Net& net, Trial& t, const Step& s, double signal) {
  for (std::size_t j = 0; j < kRows; ++j) {
    if (!s.busy[j]) {
      ++t.idle[j];
      t.psi_prev[j] = s.psi[j];
      continue;
    }
    RowStep c;
    c.psi_prev = t.psi_prev[j];
    c.psi = s.psi[j];
    c.beta = net.beta[j];
    c.rho = kRho;
    c.kappa = kKappa;
    c.L = signal;
    c.owed_a = t.idle[j] ? owed(kRho, t.idle[j]) : 1.0;
    c.owed_b = t.idle[j] ? owed(kKappa, t.idle[j]) : 1.0;
    const std::size_t a = j * kPerRow;
    plexus::learning::eprop_row<float, true, true, false, false>(
        c, kPerRow, net.src.data() + a, t.ev_prev.data(), t.ev.data(), t.ea.data() + a, t.eb.data() + a,
        t.g.data() + a);
    t.idle[j] = 0;
    t.psi_prev[j] = s.psi[j];
  }
}

// Lanes: L trials' traces interleaved per synapse; a row runs when any lane is busy; idle lanes keep
// their values (the same bits as step_single).
template <int L>
struct Lanes {
  std::vector<float> ea, eb, g, ev, ev_prev;  // [synapse or source][lane]
  std::vector<float> psi_prev;                // [row][lane]
  std::vector<std::uint32_t> idle;            // [row][lane]
};

template <int L>
void step_lanes(const Net& net, Lanes<L>& t, const std::array<const Step*, L>& s, double signal) {
  alignas(64) float psi[L], psi_prev[L], beta[L], decay_a[L], kappa_b[L], Ls[L];
  alignas(64) std::int32_t keep[L];  // 32-bit, as the floats it selects (so the loop vectorises)
  const float one_minus_kappa = static_cast<float>(1.0 - static_cast<double>(kKappa));
  for (std::size_t j = 0; j < kRows; ++j) {
    bool any = false;
    for (int l = 0; l < L; ++l) any |= s[l]->busy[j] != 0;
    if (!any) {
      for (int l = 0; l < L; ++l) {
        ++t.idle[j * L + l];
        t.psi_prev[j * L + l] = s[l]->psi[j];
      }
      continue;
    }
    for (int l = 0; l < L; ++l) {
      const auto n = t.idle[j * L + l];
      keep[l] = s[l]->busy[j] ? 0 : 1;
      psi[l] = s[l]->psi[j];
      psi_prev[l] = t.psi_prev[j * L + l];
      beta[l] = net.beta[j];
      const double oa = n ? owed(kRho, n) : 1.0, ob = n ? owed(kKappa, n) : 1.0;
      decay_a[l] = static_cast<float>(
          (static_cast<double>(kRho) - static_cast<double>(net.beta[j]) * static_cast<double>(psi_prev[l])) *
          oa);
      kappa_b[l] = static_cast<float>(static_cast<double>(kKappa) * ob);
      Ls[l] = static_cast<float>(signal);
    }
    const std::uint32_t* src = net.src.data() + j * kPerRow;
    float* __restrict ea = t.ea.data() + j * kPerRow * L;
    float* __restrict eb = t.eb.data() + j * kPerRow * L;
    float* __restrict g = t.g.data() + j * kPerRow * L;
    const float* __restrict ev = t.ev.data();
    const float* __restrict evp = t.ev_prev.data();
    for (std::size_t k = 0; k < kPerRow; ++k) {
      const float* e0 = ev + static_cast<std::size_t>(src[k]) * L;
      const float* p0 = evp + static_cast<std::size_t>(src[k]) * L;
      float* a_ = ea + k * L;
      float* b_ = eb + k * L;
      float* g_ = g + k * L;
#pragma omp simd
      for (int l = 0; l < L; ++l) {
        const float a = decay_a[l] * a_[l] + psi_prev[l] * p0[l];
        const float e = psi[l] * (e0[l] - beta[l] * a);
        const float b = kappa_b[l] * b_[l] + one_minus_kappa * e;
        const float gn = g_[l] + Ls[l] * b;
        a_[l] = keep[l] ? a_[l] : a;
        b_[l] = keep[l] ? b_[l] : b;
        g_[l] = keep[l] ? g_[l] : gn;
      }
    }
    for (int l = 0; l < L; ++l) {
      if (!keep[l])
        t.idle[j * L + l] = 0;
      else
        ++t.idle[j * L + l];
      t.psi_prev[j * L + l] = psi[l];
    }
  }
}

template <int L>
void run(const Net& net, const std::vector<std::vector<Step>>& steps,
         const std::vector<std::vector<float>>& evs, double busy, int reps) {
  const std::size_t T = steps[0].size();
  const double synapse_steps = static_cast<double>(kRows * kPerRow) * static_cast<double>(T) * L;
  std::vector<double> single_s, lane_s;
  bool same = true;
  for (int rep = 0; rep < reps; ++rep) {
    // One trial at a time.
    std::vector<Trial> trials(L);
    auto t0 = Clock::now();
    for (int l = 0; l < L; ++l) {
      auto& t = trials[static_cast<std::size_t>(l)];
      t.ea.assign(kRows * kPerRow, 0.0f);
      t.eb = t.ea;
      t.g = t.ea;
      t.psi_prev.assign(kRows, 0.0f);
      t.idle.assign(kRows, 0);
      for (std::size_t s = 0; s < T; ++s) {
        t.ev_prev.assign(evs[(s + static_cast<std::size_t>(l)) % evs.size()].begin(),
                         evs[(s + static_cast<std::size_t>(l)) % evs.size()].end());
        t.ev.assign(evs[(s + 1 + static_cast<std::size_t>(l)) % evs.size()].begin(),
                    evs[(s + 1 + static_cast<std::size_t>(l)) % evs.size()].end());
        step_single(net, t, steps[static_cast<std::size_t>(l)][s], 0.01 * static_cast<double>(s % 7));
      }
    }
    single_s.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    // Lanes.
    Lanes<L> ln;
    t0 = Clock::now();
    ln.ea.assign(kRows * kPerRow * L, 0.0f);
    ln.eb = ln.ea;
    ln.g = ln.ea;
    ln.psi_prev.assign(kRows * L, 0.0f);
    ln.idle.assign(kRows * L, 0);
    ln.ev.assign(kSources * L, 0.0f);
    ln.ev_prev = ln.ev;
    for (std::size_t s = 0; s < T; ++s) {
      std::array<const Step*, L> st{};
      for (int l = 0; l < L; ++l) {
        const auto& p = evs[(s + static_cast<std::size_t>(l)) % evs.size()];
        const auto& e = evs[(s + 1 + static_cast<std::size_t>(l)) % evs.size()];
        for (std::size_t i = 0; i < kSources; ++i) {
          ln.ev_prev[i * L + static_cast<std::size_t>(l)] = p[i];
          ln.ev[i * L + static_cast<std::size_t>(l)] = e[i];
        }
        st[static_cast<std::size_t>(l)] = &steps[static_cast<std::size_t>(l)][s];
      }
      step_lanes<L>(net, ln, st, 0.01 * static_cast<double>(s % 7));
    }
    lane_s.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    // The same bits: every synapse's g of every trial (owed decays applied alike on both sides).
    for (int l = 0; l < L && same; ++l)
      for (std::size_t k = 0; k < kRows * kPerRow; ++k)
        if (trials[static_cast<std::size_t>(l)].g[k] != ln.g[k * L + static_cast<std::size_t>(l)]) {
          same = false;
          break;
        }
  }
  std::sort(single_s.begin(), single_s.end());
  std::sort(lane_s.begin(), lane_s.end());
  const double a = single_s[single_s.size() / 2], b = lane_s[lane_s.size() / 2];
  std::printf("| %.2f | %d | %.1f | %.1f | %.2fx | %s |\n", busy, L, synapse_steps / a / 1e6,
              synapse_steps / b / 1e6, a / b, same ? "yes" : "NO");
}

}  // namespace

int main(int argc, char** argv) {
  const double busy = argc > 1 ? std::atof(argv[1]) : 0.19;
  const std::size_t T = argc > 2 ? static_cast<std::size_t>(std::atol(argv[2])) : 400;
  std::mt19937_64 rng(1);
  Net net;
  std::vector<std::uint32_t> all(kSources);
  for (std::size_t i = 0; i < kSources; ++i) all[i] = static_cast<std::uint32_t>(i);
  for (std::size_t j = 0; j < kRows; ++j) {
    std::shuffle(all.begin(), all.end(), rng);
    std::vector<std::uint32_t> row(all.begin(), all.begin() + kPerRow);
    std::sort(row.begin(), row.end());
    net.src.insert(net.src.end(), row.begin(), row.end());
    net.beta.push_back(j % 2 ? 0.07f : 0.0f);
  }
  // Presynaptic traces: a pool of steps of Poisson-like traces.
  std::vector<std::vector<float>> evs(64, std::vector<float>(kSources));
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> ev(kSources, 0.0f);
  for (auto& e : evs) {
    for (std::size_t i = 0; i < kSources; ++i) ev[i] = kAlpha * ev[i] + (u(rng) < 0.02f ? 1.0f : 0.0f);
    e = ev;
  }
  // Per trial and step: psi and busy rows.
  constexpr int kMaxLanes = 16;
  std::vector<std::vector<Step>> steps(kMaxLanes, std::vector<Step>(T));
  for (auto& trial : steps)
    for (auto& s : trial) {
      s.psi.resize(kRows);
      s.busy.resize(kRows);
      for (std::size_t j = 0; j < kRows; ++j) {
        s.busy[j] = u(rng) < busy ? 1 : 0;
        s.psi[j] = s.busy[j] ? 0.3f * u(rng) : 0.0f;
      }
    }
  std::printf(
      "| busy rows per trial | lanes | one trial at a time: M synapse-steps/s | lanes: M synapse-steps/s "
      "| lanes / one at a time | same bits |\n|---:|---:|---:|---:|---:|---|\n");
  run<4>(net, steps, evs, busy, 5);
  run<8>(net, steps, evs, busy, 5);
  run<16>(net, steps, evs, busy, 5);
  return 0;
}
