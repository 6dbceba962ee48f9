// Neuron kernels against closed forms (SPEC section 1).
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "helpers.hpp"

using namespace plexus;

namespace {
std::string one(const std::string& model, const std::string& params, const std::string& init = "",
                double dt = 1.0, int size = 1) {
  return "[run]\nduration_ms = 1000.0\ndt_ms = " + std::to_string(dt) + "\n[populations.P]\nmodel = \"" +
         model + "\"\nsize = " + std::to_string(size) + "\nparams = {" + params + "}\n" +
         (init.empty() ? "" : "init = {" + init + "}\n");
}
}  // namespace

TEST_CASE("learning-form LIF: membrane under constant input, first spike and soft reset", "[neuron]") {
  test::Cells c(one("lif", "tau_m_ms = 20.0, v_th = 0.6, n_ref = 5"));
  const double alpha = std::exp(-1.0 / 20.0), I = 0.05, v_th = 0.6;
  c.ext[0] = I;
  // v after k+1 steps from rest: I (1 - alpha^(k+1)) / (1 - alpha).
  int first = -1;
  for (int k = 0; k < 200 && first < 0; ++k) {
    const bool spiked = c.step();
    const double expected = I * (1 - std::pow(alpha, k + 1)) / (1 - alpha);
    REQUIRE(c.var("v") == Approx(expected).epsilon(1e-12));
    if (spiked)
      first = k;
    else
      REQUIRE(expected < v_th);
  }
  const int predicted =
      static_cast<int>(std::ceil(std::log(1 - v_th * (1 - alpha) / I) / std::log(alpha))) - 1;
  CHECK(first == predicted);
  const double v_spike = c.var("v");
  c.step();  // soft reset by subtraction of v_th
  CHECK(c.var("v") == Approx(alpha * v_spike + I - v_th).epsilon(1e-12));
}

TEST_CASE("learning-form LIF: refractory period of n_ref steps", "[neuron]") {
  test::Cells c(one("lif", "tau_m_ms = 20.0, v_th = 0.6, n_ref = 5"));
  c.ext[0] = 10.0;  // would spike every step if it could
  std::vector<int> spikes;
  for (int k = 0; k < 40; ++k)
    if (c.step()) spikes.push_back(k);
  REQUIRE(spikes.size() == 8);
  for (std::size_t i = 0; i < spikes.size(); ++i) CHECK(spikes[i] == static_cast<int>(5 * i));
  // psi is zero while refractory.
  c.step();  // step 40: spike
  c.step();  // step 41: refractory
  CHECK(c.var("psi") == 0.0);
}

TEST_CASE("ALIF: threshold grows by beta per spike and decays with rho", "[neuron]") {
  test::Cells c(one("alif", "tau_m_ms = 20.0, tau_a_ms = 2000.0, v_th = 0.6, n_ref = 5"));
  const double rho = std::exp(-1.0 / 2000.0), alpha = std::exp(-1.0 / 20.0);
  const double beta = 1.7 * (1 - rho) / (1 - alpha);
  CHECK(beta == Approx(0.0174241851).epsilon(1e-8));  // SPEC 1.2
  c.ext[0] = 10.0;
  std::vector<int> spikes;
  for (int k = 0; k < 300; ++k) {
    if (k == 100) c.ext[0] = 0.0;  // then let the threshold relax
    const bool spiked = c.step();
    // a^t = sum over earlier spikes s of rho^(t - s - 1)
    double a = 0;
    for (int s : spikes) a += std::pow(rho, k - s - 1);
    REQUIRE(c.var("a") == Approx(a).margin(1e-12));
    REQUIRE(c.var("threshold") == Approx(0.6 + beta * a).margin(1e-12));
    if (spiked) spikes.push_back(k);
  }
  CHECK(spikes.size() >= 20);
}

TEST_CASE("pseudo-derivative follows SPEC 1.3", "[neuron]") {
  test::Cells c(one("lif", "tau_m_ms = 20.0, v_th = 0.6, gamma = 0.3"));
  c.ext[0] = 0.45;
  c.step();
  const double v = c.var("v");
  CHECK(v == Approx(0.45));
  CHECK(c.var("psi") == Approx(0.3 / 0.6 * (1 - std::fabs(v - 0.6) / 0.6)).epsilon(1e-12));
}

TEST_CASE("physical LIF (CUBA): constant current gives the closed-form spike train", "[neuron]") {
  // tau 10 ms, R = 1/g_L = 0.1 GOhm, I = 250 pA -> V_inf = E_L + 25 mV, above threshold (15 mV up).
  const double dt = 0.1, tau = 10.0, EL = -70.0, Vth = -55.0, Vr = -70.0, RI = 25.0;
  test::Cells c(one("lif_cuba",
                    "tau_m_ms = 10.0, g_L_nS = 10.0, E_L_mV = -70.0, V_th_mV = -55.0, V_reset_mV = -70.0, "
                    "t_ref_ms = 2.0, I_e_pA = 250.0",
                    "", dt));
  // Steps from reset to threshold: first j with V(j dt) >= V_th.
  const int climb = static_cast<int>(std::ceil(-tau * std::log((EL + RI - Vth) / (EL + RI - Vr)) / dt));
  std::vector<int> spikes;
  for (int k = 0; k < 2000; ++k) {
    c.step();
    if (c.z[0] != 0.0)
      spikes.push_back(k);
    else if (k < climb - 1)
      REQUIRE(c.var("V_m") == Approx(EL + RI * (1 - std::exp(-(k + 1) * dt / tau))).epsilon(1e-12));
  }
  REQUIRE(spikes.size() > 3);
  CHECK(spikes[0] == climb - 1);
  // Held for n_ref - 1 steps after a spike; integration restarts from V_reset at step s + n_ref.
  const int n_ref = 20;
  for (std::size_t i = 1; i < spikes.size(); ++i) CHECK(spikes[i] - spikes[i - 1] == n_ref - 1 + climb);
}

TEST_CASE("physical LIF (CUBA): PSP of one synaptic current is the difference of exponentials", "[neuron]") {
  const double dt = 0.1, tm = 20.0, ts = 5.0, R = 0.1, w = 100.0;
  test::Cells c(
      one("lif_cuba",
          "tau_m_ms = 20.0, tau_e_ms = 5.0, g_L_nS = 10.0, E_L_mV = -65.0, V_th_mV = 0.0, V_reset_mV = -70.0",
          "", dt));
  c.in[0][0] = w;
  for (int k = 0; k < 500; ++k) {
    c.step();
    const double t = (k + 1) * dt;
    const double psp = w * R * ts / (ts - tm) * (std::exp(-t / ts) - std::exp(-t / tm));
    REQUIRE(c.var("V_m") + 65.0 == Approx(psp).epsilon(1e-10).margin(1e-13));
    REQUIRE(c.var("I_exc") == Approx(w * std::exp(-t / ts)).epsilon(1e-12));
  }
}

TEST_CASE("physical LIF (delta synapses): a jump that decays with tau_m", "[neuron]") {
  test::Cells c(
      one("lif_delta", "tau_m_ms = 20.0, E_L_mV = 0.0, V_th_mV = 20.0, V_reset_mV = 10.0", "", 0.1));
  c.in[0][0] = 0.5;
  for (int k = 0; k < 300; ++k) {
    c.step();
    REQUIRE(c.var("V_m") == Approx(0.5 * std::exp(-k * 0.1 / 20.0)).epsilon(1e-12));
  }
}

TEST_CASE("physical LIF (COBA): with a constant conductance, exponential relaxation to the reversal mix",
          "[neuron]") {
  // tau_e huge: g_e stays 5 nS. tau_eff = tau_m g_L / (g_L + g_e), V_inf = (g_L E_L + g_e E_e) / (g_L + g_e).
  const double dt = 0.1, tm = 20.0, gL = 10.0, ge = 5.0, EL = -70.0, Ee = 0.0;
  test::Cells c(one(
      "lif_coba",
      "tau_m_ms = 20.0, g_L_nS = 10.0, E_L_mV = -70.0, V_th_mV = 0.0, V_reset_mV = -70.0, tau_e_ms = 1e15",
      "V_m = -70.0, g_e = 5.0", dt));
  const double vinf = (gL * EL + ge * Ee) / (gL + ge), teff = tm * gL / (gL + ge);
  for (int k = 0; k < 1000; ++k) {
    c.step();
    REQUIRE(c.var("V_m") == Approx(vinf + (EL - vinf) * std::exp(-(k + 1) * dt / teff)).epsilon(1e-10));
  }
}

TEST_CASE("physical LIF (COBA): one conductance pulse against a fine-grained reference", "[neuron]") {
  // Exponential Euler holds g over a step; the result must stay within 1 % of the peak of a
  // reference integrated with 1 us steps (RK4 on V with the exact conductance).
  const double dt = 0.1, tm = 20.0, gL = 10.0, EL = -70.0, Ee = 0.0, te = 5.0, w = 20.0;
  test::Cells c(
      one("lif_coba",
          "tau_m_ms = 20.0, g_L_nS = 10.0, E_L_mV = -70.0, V_th_mV = 0.0, V_reset_mV = -70.0, tau_e_ms = 5.0",
          "V_m = -70.0", dt));
  c.in[0][0] = w;
  auto f = [&](double t, double v) { return ((EL - v) + w * std::exp(-t / te) / gL * (Ee - v)) / tm; };
  double v = EL, t = 0, peak = 0, worst = 0;
  const double h = 0.001;
  for (int k = 0; k < 600; ++k) {
    c.step();
    for (int j = 0; j < 100; ++j) {
      const double k1 = f(t, v), k2 = f(t + h / 2, v + h / 2 * k1), k3 = f(t + h / 2, v + h / 2 * k2),
                   k4 = f(t + h, v + h * k3);
      v += h / 6 * (k1 + 2 * k2 + 2 * k3 + k4);
      t += h;
    }
    peak = std::max(peak, v - EL);
    worst = std::max(worst, std::fabs(c.var("V_m") - v));
  }
  INFO("peak " << peak << " mV, largest deviation " << worst << " mV");
  CHECK(peak > 1.0);
  CHECK(worst < 0.01 * peak);
}

TEST_CASE("Izhikevich regular spiking: rheobase from the closed form, adaptation above it", "[neuron]") {
  // Izhikevich (2007) RS cell. Equilibria of k (v - v_r)(v - v_t) - b (v - v_r) + I = 0 vanish when
  // I > (k (v_t - v_r) + b)^2 / (4 k).
  const std::string params =
      "C_pF = 100.0, k_nS_per_mV = 0.7, v_r_mV = -60.0, v_t_mV = -40.0, a_per_ms = 0.03, "
      "b_nS = -2.0, v_reset_mV = -50.0, d_pA = 100.0, v_peak_mV = 35.0";
  const double rheobase = std::pow(0.7 * 20.0 - 2.0, 2) / (4 * 0.7);
  CHECK(rheobase == Approx(51.428571).epsilon(1e-6));
  auto spikes_at = [&](double current) {
    test::Cells c(one("izhikevich", params + ", I_bias_pA = " + std::to_string(current), "v = -60.0", 0.04));
    std::vector<double> times;
    for (int k = 0; k < 50000; ++k)  // 2 s
      if (c.step()) times.push_back(k * 0.04);
    return times;
  };
  CHECK(spikes_at(0.95 * rheobase).empty());
  const auto above = spikes_at(4.0 * rheobase);
  REQUIRE(above.size() >= 6);
  const double first_isi = above[1] - above[0];
  const double last_isi = above[above.size() - 1] - above[above.size() - 2];
  const double prev_isi = above[above.size() - 2] - above[above.size() - 3];
  CHECK(last_isi > 1.25 * first_isi);  // spike-frequency adaptation (measured: 1.38x at 4x rheobase)
  CHECK(std::fabs(last_isi - prev_isi) < 0.02 * last_isi);  // settles to tonic firing
}

TEST_CASE("readout: leaky integration with kappa", "[neuron]") {
  test::Cells c(one("readout", "tau_out_ms = 20.0, bias = 0.1"));
  const double kappa = std::exp(-1.0 / 20.0);
  for (int k = 0; k < 100; ++k) {
    c.in[0][0] = 0.5;
    c.step();
    REQUIRE(c.var("y") == Approx(0.6 * (1 - std::pow(kappa, k + 1))).epsilon(1e-12));
  }
}

TEST_CASE("spike sources: given times, and Poisson trains at the right rate", "[neuron]") {
  {
    test::Cells c(one("spike_source", "spike_times_ms = [[1.0, 5.0, 5.2, 9.0]]", "", 1.0));
    std::vector<int> steps;
    for (int k = 0; k < 12; ++k)
      if (c.step()) steps.push_back(k);
    CHECK(steps == std::vector<int>{1, 5, 9});  // 5.0 and 5.2 fall in the same 1-ms step
  }
  {
    test::Cells c(one("poisson_source", "rate_hz = 50.0, start_ms = 100.0, stop_ms = 900.0", "", 1.0, 2000));
    std::size_t n = 0, before = 0, after = 0;
    for (int k = 0; k < 1000; ++k) {
      c.step();
      for (double z : c.z) {
        n += z != 0.0;
        if (k < 100) before += z != 0.0;
        if (k >= 900) after += z != 0.0;
      }
    }
    CHECK(before == 0);
    CHECK(after == 0);
    const double expected = 2000 * 800 * 0.05;  // neurons x steps x p
    CHECK(std::fabs(static_cast<double>(n) - expected) < 5 * std::sqrt(expected));
  }
}
