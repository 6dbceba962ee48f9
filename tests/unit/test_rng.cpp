// Counter-based random numbers: reproducible, and with the right distributions.
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "plexus/core/rng.hpp"

using namespace plexus;

TEST_CASE("a stream is a pure function of its key", "[rng]") {
  rng::Stream a(7, rng::Purpose::Weight, 3, 9), b(7, rng::Purpose::Weight, 3, 9),
      c(7, rng::Purpose::Weight, 3, 10);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const auto x = a.bits();
    CHECK(x == b.bits());
    differs |= x != c.bits();
  }
  CHECK(differs);
}

TEST_CASE("uniform, normal and bounded integers have the right moments", "[rng]") {
  rng::Stream s(1, rng::Purpose::Task, 0);
  const int n = 200000;
  double su = 0, su2 = 0, sn = 0, sn2 = 0;
  std::vector<int> bins(7, 0);
  for (int i = 0; i < n; ++i) {
    const double u = s.uniform();
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    su += u, su2 += u * u;
    const double g = s.normal();
    sn += g, sn2 += g * g;
    ++bins[s.below(7)];
  }
  // Five standard errors.
  CHECK(std::fabs(su / n - 0.5) < 5 * std::sqrt(1.0 / 12 / n));
  CHECK(std::fabs(su2 / n - su / n * su / n - 1.0 / 12) < 0.002);
  CHECK(std::fabs(sn / n) < 5 / std::sqrt(n));
  CHECK(std::fabs(sn2 / n - 1.0) < 0.015);
  for (int b : bins) CHECK(std::fabs(b - n / 7.0) < 5 * std::sqrt(n / 7.0));
}

TEST_CASE("Poisson counts have mean and variance lambda, in both samplers", "[rng]") {
  for (double lambda : {0.05, 2.0, 11.9, 12.0, 40.0, 1000.0}) {
    rng::Stream s(3, rng::Purpose::PoissonDrive, static_cast<std::uint64_t>(lambda * 100));
    const int n = 100000;
    double m = 0, m2 = 0;
    for (int i = 0; i < n; ++i) {
      const double k = rng::poisson(lambda, s.uniform(), s);
      m += k, m2 += k * k;
    }
    m /= n;
    const double var = m2 / n - m * m;
    INFO("lambda = " << lambda << ", mean " << m << ", variance " << var);
    CHECK(std::fabs(m - lambda) < 5 * std::sqrt(lambda / n));
    CHECK(std::fabs(var / lambda - 1.0) < 0.03);
  }
}
