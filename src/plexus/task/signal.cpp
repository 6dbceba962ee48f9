#include "plexus/task/signal.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace plexus::task {
namespace {

using model::Node;
using model::Range;

constexpr double kTwoPi = 2.0 * M_PI;

// Which of an ODE's state variables are outputs, from `components` (default: all of `all`).
std::vector<std::size_t> components(const Node& n, const std::vector<std::string>& all,
                                    std::vector<std::string>& names) {
  std::vector<std::size_t> out;
  if (!n.has("components")) {
    for (std::size_t i = 0; i < all.size(); ++i) out.push_back(i), names.push_back(all[i]);
    return out;
  }
  const auto node = n.at("components");
  for (const auto& c : node.as_string_array()) {
    std::size_t i = 0;
    while (i < all.size() && all[i] != c) ++i;
    if (i == all.size()) {
      std::string list;
      for (const auto& a : all) list += (list.empty() ? "" : ", ") + a;
      node.fail(fmt::format("unknown component '{}' (this system has: {})", c, list));
    }
    for (auto j : out)
      if (j == i) node.fail(fmt::format("component '{}' is listed twice", c));
    out.push_back(i);
    names.push_back(c);
  }
  if (out.empty()) node.fail("list at least one component");
  return out;
}

// Classical Runge-Kutta for an autonomous system, `sub` substeps of length h per call.
template <std::size_t D, class F>
void rk4(std::array<double, D>& y, double h, int sub, F&& f) {
  for (int s = 0; s < sub; ++s) {
    std::array<double, D> k1, k2, k3, k4, tmp;
    f(y, k1);
    for (std::size_t i = 0; i < D; ++i) tmp[i] = y[i] + 0.5 * h * k1[i];
    f(tmp, k2);
    for (std::size_t i = 0; i < D; ++i) tmp[i] = y[i] + 0.5 * h * k2[i];
    f(tmp, k3);
    for (std::size_t i = 0; i < D; ++i) tmp[i] = y[i] + h * k3[i];
    f(tmp, k4);
    for (std::size_t i = 0; i < D; ++i) y[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
  }
}

// Integrates an ODE in its own time unit (time_scale_ms of simulated time), first for the warm-up
// (onto the attractor), then sampling it at the end of every step.
template <std::size_t D, class F>
void integrate(const Node& n, double dt_ms, Step steps, std::array<double, D> y, double time_scale_ms,
               const std::vector<std::size_t>& comp, const std::array<double, D>& offset, double amplitude,
               std::vector<double>& values, F&& f) {
  const double warmup_ms = n.number_or("warmup_ms", 50.0 * time_scale_ms, Range::non_negative());
  const double h_step = dt_ms / time_scale_ms;  // ODE time per simulation step
  const int sub = std::max(1, static_cast<int>(std::ceil(h_step / 0.005)));
  const double h = h_step / sub;
  const auto warm_steps = static_cast<Step>(std::llround(warmup_ms / dt_ms));
  for (Step t = 0; t < warm_steps; ++t) rk4(y, h, sub, f);
  values.resize(static_cast<std::size_t>(steps) * comp.size());
  for (Step t = 0; t < steps; ++t) {
    rk4(y, h, sub, f);
    for (std::size_t k = 0; k < comp.size(); ++k) {
      const double v = y[comp[k]];
      if (!std::isfinite(v)) n.fail("the system diverged; use a smaller dt or time_scale_ms closer to 1");
      values[static_cast<std::size_t>(t) * comp.size() + k] = amplitude * (v - offset[comp[k]]);
    }
  }
}

std::vector<std::vector<double>> read_table(const Node& at, const std::string& path) {
  std::ifstream in(path);
  if (!in) at.fail(fmt::format("cannot open '{}'", path));
  std::vector<std::vector<double>> rows;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (const auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    for (auto& ch : line)
      if (ch == ',' || ch == ';' || ch == '\t') ch = ' ';
    std::istringstream ss(line);
    std::vector<double> row;
    std::string tok;
    while (ss >> tok) {
      char* end = nullptr;
      const double v = std::strtod(tok.c_str(), &end);
      if (end == tok.c_str() || *end != '\0' || !std::isfinite(v))
        at.fail(fmt::format("'{}' line {}: '{}' is not a number", path, lineno, tok));
      row.push_back(v);
    }
    if (row.empty()) continue;
    if (!rows.empty() && row.size() != rows.front().size())
      at.fail(fmt::format("'{}' line {}: {} columns, but the first row has {}", path, lineno, row.size(),
                          rows.front().size()));
    rows.push_back(std::move(row));
  }
  if (rows.size() < 2) at.fail(fmt::format("'{}' holds fewer than two samples", path));
  return rows;
}

}  // namespace

namespace {
// Samples are stamped like recorded samples: at the end of their step.
double time_of(Step t, double dt_ms) {
  return static_cast<double>(t + 1) * dt_ms;
}
}  // namespace

Signal Signal::make(const Node& n, double dt_ms, Step steps) {
  Signal s;
  s.steps_ = steps;
  const std::string kind = n.string_or("kind", "");
  if (kind != "signal")
    n.fail(fmt::format("FORCE training needs a target signal: [task] kind = \"signal\"{}",
                       kind.empty() ? "" : fmt::format(" (not \"{}\")", kind)));
  s.shape_ = n.choice("shape", {"sine", "sawtooth", "sine_product", "van_der_pol", "lorenz", "file"});
  if (s.shape_ == "sine" || s.shape_ == "sawtooth")
    s.periodic(n, dt_ms);
  else if (s.shape_ == "sine_product")
    s.sine_product(n, dt_ms);
  else if (s.shape_ == "van_der_pol")
    s.van_der_pol(n, dt_ms);
  else if (s.shape_ == "lorenz")
    s.lorenz(n, dt_ms);
  else
    s.from_file(n, dt_ms);
  return s;
}

void Signal::periodic(const Node& n, double dt_ms) {
  const Step steps = steps_;
  auto& v = values_;
  auto time_ms = [&](Step t) { return time_of(t, dt_ms); };
  const bool sine = shape_ == "sine";
  if (sine)
    n.allow_only({"kind", "shape", "amplitude", "frequency_hz", "phase_deg", "offset"});
  else
    n.allow_only({"kind", "shape", "amplitude", "frequency_hz", "phase_deg", "offset", "width"});
  const double A = n.number_or("amplitude", 1.0);
  const double f = n.number_or("frequency_hz", 5.0, Range::positive());
  const double phase = n.number_or("phase_deg", 0.0) / 360.0;
  const double offset = n.number_or("offset", 0.0);
  // Sawtooth: rises from -A to A over the first `width` of each period, falls back over the rest
  // (1: a ramp with an instantaneous drop; 0.5: a triangle).
  const double width = sine ? 1.0 : n.number_or("width", 1.0, Range{0.0, 1.0, false, true});
  v.resize(static_cast<std::size_t>(steps));
  for (Step t = 0; t < steps; ++t) {
    const double cycles = f * time_ms(t) * 1e-3 + phase;
    const double u = cycles - std::floor(cycles);
    const double saw = u < width ? 2.0 * u / width - 1.0 : 1.0 - 2.0 * (u - width) / (1.0 - width);
    v[static_cast<std::size_t>(t)] = offset + A * (sine ? std::sin(kTwoPi * cycles) : saw);
  }
  names_ = {"x"};
  description_ = sine
                     ? fmt::format("sine {} Hz, amplitude {}", f, A)
                     : fmt::format("sawtooth {} Hz, amplitude {}, rising over {} of the period", f, A, width);
}

void Signal::sine_product(const Node& n, double dt_ms) {
  const Step steps = steps_;
  auto& v = values_;
  auto time_ms = [&](Step t) { return time_of(t, dt_ms); };
  n.allow_only({"kind", "shape", "amplitude", "frequencies_hz", "offset"});
  const double A = n.number_or("amplitude", 1.0);
  const double offset = n.number_or("offset", 0.0);
  std::vector<double> fs{4.0, 6.0};
  if (n.has("frequencies_hz")) fs = n.at("frequencies_hz").as_number_array(Range::positive());
  if (fs.empty()) n.at("frequencies_hz").fail("list at least one frequency");
  v.resize(static_cast<std::size_t>(steps));
  for (Step t = 0; t < steps; ++t) {
    double x = A;
    for (double f : fs) x *= std::sin(kTwoPi * f * time_ms(t) * 1e-3);
    v[static_cast<std::size_t>(t)] = offset + x;
  }
  names_ = {"x"};
  std::string list;
  for (double f : fs) list += (list.empty() ? "" : " x ") + fmt::format("sin {} Hz", f);
  description_ = fmt::format("product {}, amplitude {}", list, A);
}

void Signal::van_der_pol(const Node& n, double dt_ms) {
  const Step steps = steps_;
  auto& v = values_;
  n.allow_only({"kind", "shape", "mu", "time_scale_ms", "amplitude", "components", "warmup_ms"});
  const double mu = n.number_or("mu", 0.3, Range::non_negative());
  const double tau = n.number_or("time_scale_ms", 30.0, Range::positive());
  const double A = n.number_or("amplitude", 0.5);
  const auto comp = components(n, {"x", "y"}, names_);
  // x'' - mu (1 - x^2) x' + x = 0 as x' = y, y' = mu (1 - x^2) y - x.
  integrate<2>(n, dt_ms, steps, {2.0, 0.0}, tau, comp, {0.0, 0.0}, A, v,
               [mu](const std::array<double, 2>& y, std::array<double, 2>& d) {
                 d[0] = y[1];
                 d[1] = mu * (1.0 - y[0] * y[0]) * y[1] - y[0];
               });
  description_ = fmt::format("Van der Pol mu = {}, time scale {} ms, amplitude {}", mu, tau, A);
}

void Signal::lorenz(const Node& n, double dt_ms) {
  const Step steps = steps_;
  auto& v = values_;
  n.allow_only({"kind", "shape", "sigma", "rho", "beta", "time_scale_ms", "amplitude", "z_offset",
                "components", "warmup_ms"});
  const double sigma = n.number_or("sigma", 10.0), rho = n.number_or("rho", 28.0);
  const double beta = n.number_or("beta", 8.0 / 3.0);
  const double tau = n.number_or("time_scale_ms", 100.0, Range::positive());
  const double A = n.number_or("amplitude", 0.05);
  const double z0 = n.number_or("z_offset", rho - 3.0);
  const auto comp = components(n, {"x", "y", "z"}, names_);
  integrate<3>(n, dt_ms, steps, {1.0, 1.0, 1.0}, tau, comp, {0.0, 0.0, z0}, A, v,
               [=](const std::array<double, 3>& y, std::array<double, 3>& d) {
                 d[0] = sigma * (y[1] - y[0]);
                 d[1] = y[0] * (rho - y[2]) - y[1];
                 d[2] = y[0] * y[1] - beta * y[2];
               });
  description_ = fmt::format("Lorenz (sigma {}, rho {}, beta {:.4g}), time scale {} ms, amplitude {}", sigma,
                             rho, beta, tau, A);
}

void Signal::from_file(const Node& n, double dt_ms) {
  const Step steps = steps_;
  auto& v = values_;
  auto time_ms = [&](Step t) { return time_of(t, dt_ms); };
  n.allow_only({"kind", "shape", "file", "sample_ms", "columns", "amplitude", "periodic"});
  const auto path = n.config().resolve_path(n.string("file")).string();
  const auto rows = read_table(n.at("file"), path);
  const double sample_ms = n.number_or("sample_ms", dt_ms, Range::positive());
  const double A = n.number_or("amplitude", 1.0);
  const bool periodic = n.boolean_or("periodic", false);
  std::vector<std::size_t> cols;
  if (n.has("columns")) {
    for (auto c : n.at("columns").as_integer_array(Range::closed(0, 1e6))) {
      if (static_cast<std::size_t>(c) >= rows.front().size())
        n.at("columns").fail(
            fmt::format("column {} does not exist ('{}' has {} columns)", c, path, rows.front().size()));
      cols.push_back(static_cast<std::size_t>(c));
    }
    if (cols.empty()) n.at("columns").fail("list at least one column");
  } else {
    for (std::size_t c = 0; c < rows.front().size(); ++c) cols.push_back(c);
  }
  for (auto c : cols) names_.push_back(fmt::format("column {}", c));
  const double n_samples = static_cast<double>(rows.size());
  const double span_ms = periodic ? n_samples * sample_ms : (n_samples - 1.0) * sample_ms;
  if (!periodic && time_ms(steps - 1) > span_ms + 1e-9 * span_ms)
    n.at("file").fail(
        fmt::format("the trace covers {} ms but {} ms are needed (the run plus the lag "
                    "margin of the metrics); set periodic = true to repeat it",
                    span_ms, time_ms(steps - 1)));
  v.resize(static_cast<std::size_t>(steps) * cols.size());
  for (Step t = 0; t < steps; ++t) {
    double pos = time_ms(t) / sample_ms;  // in samples
    if (periodic) pos = std::fmod(pos, n_samples);
    const auto i0 = std::min(static_cast<std::size_t>(pos), rows.size() - 1);
    const std::size_t i1 = periodic ? (i0 + 1) % rows.size() : std::min(i0 + 1, rows.size() - 1);
    const double w = pos - static_cast<double>(i0);
    for (std::size_t k = 0; k < cols.size(); ++k)
      v[static_cast<std::size_t>(t) * cols.size() + k] =
          A * ((1.0 - w) * rows[i0][cols[k]] + w * rows[i1][cols[k]]);
  }
  description_ = fmt::format("trace '{}' ({} samples every {} ms{})", n.string("file"), rows.size(),
                             sample_ms, periodic ? ", repeated" : "");
}

}  // namespace plexus::task
