// [task] kind = "from_file": trials read from HDF5 files, for a user's own spike data set (the
// Spiking Heidelberg Digits, or anything written in the simple Plexus layout). See docs/task.md.
//
// Layouts:
//   "shd"     /spikes/times and /spikes/units: one variable-length array per trial (times in
//             seconds unless time_scale_ms says otherwise), /labels: one per trial (Cramer et al.,
//             "The Heidelberg spiking data sets", 2020).
//   "plexus"  /spikes/times_ms and /spikes/units: all trials' spikes one after another,
//             /spikes/offsets: trial k's spikes are [offsets[k], offsets[k+1]); then /labels (one per
//             trial, classification) or /targets (trials x samples x outputs, regression, one sample
//             every target_sample_ms).
//
// Trials are read one at a time (hyperslabs), never the whole file; the file is scanned once when
// the task is made so that a bad file is refused before anything runs. The training stream visits
// the training split epoch after epoch, each in an order drawn from (seed, epoch): the same on every
// rank and for every decomposition. Validation and test trials are taken in file order.
#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>

#include <fmt/format.h>

#include "plexus/core/error.hpp"
#include "plexus/core/rng.hpp"
#include "plexus/io/result_file.hpp"
#include "plexus/task/common.hpp"
#include "plexus/task/task.hpp"

namespace plexus::task {
namespace {

using detail::steps_of;
using model::Node;
using model::Range;

enum class Layout { Shd, Plexus };

// One trial's spikes as (step, channel) events, sorted, and its target samples (regression).
struct Trial {
  std::vector<std::uint32_t> step_begin;  // steps + 1 offsets into channel
  std::vector<std::uint32_t> channel;
  std::vector<double> targets;  // samples x outputs
};

// One HDF5 file of trials.
struct Source {
  std::string name;  // as given in the model (for messages)
  std::filesystem::path path;
  std::unique_ptr<io::Reader> reader;
  Layout layout = Layout::Shd;
  std::uint64_t trials = 0;
  std::vector<std::uint64_t> offsets;  // plexus layout: trials + 1
  std::vector<std::int64_t> labels;    // classification: one per trial
  std::uint64_t target_samples = 0;    // regression
};

// Trials [first, first + count) of one source.
struct Split {
  int source = -1;
  std::uint64_t first = 0, count = 0;
  std::string what;  // "training", "validation", "test"
};

// HDF5 is not thread-safe as Debian builds it, and trial instances begin their trials from their own
// threads: every read of the files goes through this section. Exceptions are carried out of it.
template <class F>
void serialized(F&& f) {
  std::exception_ptr failure;
#pragma omp critical(plexus_hdf5_task)
  try {
    f();
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) std::rethrow_exception(failure);
}

class FromFile final : public Task {
 public:
  FromFile(const Node& n, double dt, std::uint64_t seed) : seed_(seed), dt_(dt) {
    n.allow_only({"kind", "file", "validation_file", "test_file", "train_range", "validation_range",
                  "test_range", "layout", "time_scale_ms", "duration_ms", "channels", "channel_bin",
                  "channel_map", "classes", "window_start_ms", "target_sample_ms", "shuffle", "same_step"});
    layout_key_ = n.choice("layout", {"auto", "shd", "plexus"}, "auto");
    T_ = steps_of(n, "duration_ms", 0.0, dt);
    if (!n.has("duration_ms")) n.fail("from_file needs duration_ms, the length of a trial");
    if (T_ == 0) n.at("duration_ms").fail("must be at least one step");
    window_ = steps_of(n, "window_start_ms", 0.0, dt);
    if (window_ >= T_) n.at("window_start_ms").fail("must be less than duration_ms");
    channels_ = static_cast<std::size_t>(n.integer("channels", Range::closed(1, 1e8)));
    bin_ = static_cast<std::uint64_t>(n.integer_or("channel_bin", 1, Range::closed(1, 1e8)));
    if (n.has("channel_map")) {
      if (n.has("channel_bin")) n.at("channel_map").fail("give channel_map or channel_bin, not both");
      map_ = n.at("channel_map").as_integer_array(Range::closed(-1, static_cast<double>(channels_) - 1));
      if (map_.empty()) n.at("channel_map").fail("list the channel of each unit (-1 leaves a unit out)");
    }
    shuffle_ = n.boolean_or("shuffle", true);
    merge_ = n.choice("same_step", {"refuse", "merge"}, "refuse") == "merge";

    open_sources(n);
    time_scale_ = n.number_or("time_scale_ms", layout() == Layout::Shd ? 1000.0 : 1.0, Range::positive());
    choose_splits(n);
    classification_ = sources_.front().layout == Layout::Shd || !sources_.front().labels.empty();
    if (classification_) {
      // Said, not inferred from the labels: a label beyond the readouts is then a fault of the file.
      if (!n.has("classes"))
        n.fail("from_file with /labels needs classes, the number of classes (the readout's size)");
      classes_ = static_cast<std::size_t>(n.integer("classes", Range::closed(2, 1e6)));
      if (n.has("target_sample_ms"))
        n.at("target_sample_ms").fail("only for regression (a file with /targets)");
    } else {
      if (n.has("classes")) n.at("classes").fail("only for classification (a file with /labels)");
      sample_ = steps_of(n, "target_sample_ms", dt, dt);
      if (sample_ == 0) n.at("target_sample_ms").fail("must be at least one step");
    }
    for (std::size_t i = 0; i < sources_.size(); ++i) scan(n, i);
  }

  std::string kind() const override { return "from_file"; }
  std::size_t channels() const override { return channels_; }
  std::size_t outputs() const override { return classification_ ? classes_ : outputs_; }
  Step steps() const override { return T_; }
  bool classification() const override { return classification_; }
  Step window_begin() const override { return window_; }

  void begin_trial(Stream stream, std::uint64_t trial) override {
    const Split& sp = split_of(stream);
    if (sp.source < 0)
      throw UserError(
          fmt::format("[task] from_file: the run asks for {} trials, but the task has no {} split "
                      "(set {}_file or {}_range)",
                      sp.what, sp.what, sp.what, sp.what));
    std::uint64_t k = trial % sp.count;
    if (stream == Stream::Train && shuffle_) k = order(trial / sp.count)[k];
    source_ = sp.source;
    index_ = sp.first + k;
    const auto& s = sources_[static_cast<std::size_t>(source_)];
    label_ = classification_ ? static_cast<int>(s.labels[index_]) : -1;
    serialized([&] { trial_ = read_trial(s, index_); });
  }
  int label() const override { return label_; }

  void input_spikes(Step t, std::size_t begin, std::size_t end, double* z) const override {
    std::fill(z, z + (end - begin), 0.0);
    if (trial_.step_begin.empty()) return;  // no trial begun
    const auto b = trial_.channel.begin() + trial_.step_begin[static_cast<std::size_t>(t)];
    const auto e = trial_.channel.begin() + trial_.step_begin[static_cast<std::size_t>(t) + 1];
    for (auto it = std::lower_bound(b, e, static_cast<std::uint32_t>(begin)); it != e && *it < end; ++it)
      z[*it - begin] = 1.0;
  }
  void target(Step t, double* y) const override {
    if (trial_.targets.empty()) {  // no trial begun
      std::fill_n(y, outputs_, 0.0);
      return;
    }
    const auto row = static_cast<std::size_t>(t / sample_) * outputs_;
    std::copy_n(trial_.targets.begin() + static_cast<std::ptrdiff_t>(row), outputs_, y);
  }
  std::string describe_trial() const override {
    const auto& s = sources_[static_cast<std::size_t>(source_)];
    return classification_ ? fmt::format("{} trial {} -> class {}", s.name, index_, label_)
                           : fmt::format("{} trial {}", s.name, index_);
  }

 private:
  Layout layout() const { return sources_.front().layout; }

  // Opens `file` (and validation_file, test_file), checks the layout's datasets and their shapes, and
  // reads the small per-trial arrays (labels, offsets).
  void open_sources(const Node& n) {
    for (const char* key : {"file", "validation_file", "test_file"}) {
      if (!n.has(key)) {
        if (std::string_view(key) == "file") n.fail("from_file needs file, the HDF5 file of the trials");
        continue;
      }
      Source s;
      s.name = n.string(key);
      s.path = n.config().resolve_path(s.name);
      const Node where = n.at(key);
      if (!std::filesystem::exists(s.path))
        where.fail(fmt::format("file '{}' does not exist", s.path.string()));
      serialized([&] {
        try {
          s.reader = std::make_unique<io::Reader>(s.path);
        } catch (const UserError& e) {
          where.fail(e.what());
        }
        inspect(where, s);
      });
      if (!sources_.empty() && s.layout != sources_.front().layout)
        where.fail(fmt::format("'{}' is in another layout than '{}'", s.name, sources_.front().name));
      if (!sources_.empty() && s.labels.empty() != sources_.front().labels.empty())
        where.fail(fmt::format("'{}' has {}, but '{}' has {}: the splits must be of one kind", s.name,
                               s.labels.empty() ? "/targets" : "/labels", sources_.front().name,
                               s.labels.empty() ? "/labels" : "/targets"));
      key_of_.push_back(key);
      sources_.push_back(std::move(s));
    }
  }

  [[noreturn]] static void bad(const Node& where, const Source& s, const std::string& dataset,
                               const std::string& what) {
    where.fail(fmt::format("'{}', dataset {}: {}", s.path.string(), dataset, what));
  }

  void inspect(const Node& where, Source& s) {
    const auto& r = *s.reader;
    const bool shd = r.exists("/spikes/times") && r.info("/spikes/times").type == "vlen";
    const bool plexus = r.exists("/spikes/offsets");
    if (layout_key_ == "shd" || (layout_key_ == "auto" && shd && !plexus))
      s.layout = Layout::Shd;
    else if (layout_key_ == "plexus" || (layout_key_ == "auto" && plexus))
      s.layout = Layout::Plexus;
    else
      where.fail(
          fmt::format("'{}' is in neither layout: it needs /spikes/times and /spikes/units (one "
                      "variable-length array per trial, as the Spiking Heidelberg Digits) or "
                      "/spikes/times_ms, /spikes/units and /spikes/offsets (docs/task.md)",
                      s.path.string()));
    auto need = [&](const std::string& d, std::size_t dims) {
      if (!r.exists(d)) bad(where, s, d, "missing");
      auto info = r.info(d);
      if (info.shape.size() != dims)
        bad(where, s, d, fmt::format("has {} dimension(s), {} expected", info.shape.size(), dims));
      return info;
    };
    if (s.layout == Layout::Shd) {
      const auto t = need("/spikes/times", 1), u = need("/spikes/units", 1);
      for (const auto& i : {t, u})
        if (i.type != "vlen") bad(where, s, i.path, "must hold one variable-length array per trial");
      if (t.shape != u.shape)
        bad(where, s, "/spikes/units",
            fmt::format("{} trials, but /spikes/times has {}", u.shape[0], t.shape[0]));
      s.trials = t.shape[0];
    } else {
      const auto t = need("/spikes/times_ms", 1), u = need("/spikes/units", 1),
                 o = need("/spikes/offsets", 1);
      if (t.shape != u.shape)
        bad(where, s, "/spikes/units",
            fmt::format("{} spikes, but /spikes/times_ms has {}", u.shape[0], t.shape[0]));
      if (o.shape[0] == 0) bad(where, s, "/spikes/offsets", "empty (it needs trials + 1 entries)");
      s.trials = o.shape[0] - 1;
      s.offsets = r.read_u64("/spikes/offsets");
      if (s.offsets.front() != 0) bad(where, s, "/spikes/offsets", "must start at 0");
      for (std::size_t k = 0; k + 1 < s.offsets.size(); ++k)
        if (s.offsets[k + 1] < s.offsets[k])
          bad(where, s, "/spikes/offsets", fmt::format("decreases at trial {}", k));
      if (s.offsets.back() != t.shape[0])
        bad(where, s, "/spikes/offsets",
            fmt::format("ends at {}, but there are {} spikes", s.offsets.back(), t.shape[0]));
    }
    if (s.trials == 0) bad(where, s, "/spikes", "holds no trials");
    const bool labels = r.exists("/labels"), targets = r.exists("/targets");
    if (labels == targets)
      where.fail(fmt::format("'{}' needs /labels (classification) or /targets (regression), {}",
                             s.path.string(), labels ? "not both" : "and has neither"));
    if (targets && s.layout == Layout::Shd) bad(where, s, "/targets", "the shd layout has /labels");
    if (labels) {
      const auto l = need("/labels", 1);
      if (l.shape[0] != s.trials)
        bad(where, s, "/labels", fmt::format("{} labels for {} trials", l.shape[0], s.trials));
      for (double v : r.read_doubles("/labels")) {
        if (!(v >= 0) || v != std::floor(v) || v > 1e6)
          bad(where, s, "/labels", fmt::format("{} is not a class number (0, 1, 2, ...)", v));
        s.labels.push_back(static_cast<std::int64_t>(v));
      }
    } else {
      const auto g = need("/targets", 3);
      if (g.shape[0] != s.trials)
        bad(where, s, "/targets", fmt::format("{} rows for {} trials", g.shape[0], s.trials));
      if (g.shape[1] == 0 || g.shape[2] == 0)
        bad(where, s, "/targets", "is empty (trials x samples x outputs)");
      if (outputs_ != 0 && g.shape[2] != outputs_)
        bad(where, s, "/targets",
            fmt::format("{} outputs, but '{}' has {}", g.shape[2], sources_.front().name, outputs_));
      outputs_ = g.shape[2];
      s.target_samples = g.shape[1];
    }
  }

  // The splits: each a separate file, or a range of `file`. Ranges of one file may not overlap.
  void choose_splits(const Node& n) {
    const std::array<const char*, 3> names{"training", "validation", "test"};
    const std::array<const char*, 3> files{"file", "validation_file", "test_file"};
    const std::array<const char*, 3> ranges{"train_range", "validation_range", "test_range"};
    for (std::size_t i = 0; i < 3; ++i) {
      Split& sp = splits_[i];
      sp.what = names[i];
      const auto it = std::find(key_of_.begin(), key_of_.end(), std::string(files[i]));
      if (i > 0 && it != key_of_.end()) sp.source = static_cast<int>(it - key_of_.begin());
      const bool own_file = sp.source >= 0;
      if (n.has(ranges[i]) || (i == 0) || own_file) {
        if (!own_file) sp.source = 0;
        const auto& s = sources_[static_cast<std::size_t>(sp.source)];
        sp.first = 0;
        sp.count = s.trials;
        if (n.has(ranges[i])) {
          const auto r = n.at(ranges[i]).as_integer_array(Range::closed(0, static_cast<double>(s.trials)));
          if (r.size() != 2 || r[0] >= r[1])
            n.at(ranges[i]).fail(fmt::format(
                "must be [first, end) with first < end <= {} (the trials of '{}')", s.trials, s.name));
          sp.first = static_cast<std::uint64_t>(r[0]);
          sp.count = static_cast<std::uint64_t>(r[1] - r[0]);
        }
      }
    }
    // The training split defaults to what the other splits leave of `file`, if they take a range of it.
    Split& train = splits_[0];
    if (!n.has("train_range")) {
      std::uint64_t end = train.count;
      for (std::size_t i = 1; i < 3; ++i)
        if (splits_[i].source == 0) end = std::min(end, splits_[i].first);
      train.count = end;
      if (end == 0)
        n.at("file").fail("the validation or test range leaves no training trials; set train_range");
    }
    for (std::size_t i = 0; i < 3; ++i)
      for (std::size_t j = i + 1; j < 3; ++j) {
        const auto &a = splits_[i], &b = splits_[j];
        if (a.source >= 0 && a.source == b.source && a.first < b.first + b.count &&
            b.first < a.first + a.count)
          n.fail(
              fmt::format("the {} and {} trials overlap (trials {}..{} and {}..{} of '{}'): they must be "
                          "apart",
                          a.what, b.what, a.first, a.first + a.count, b.first, b.first + b.count,
                          sources_[static_cast<std::size_t>(a.source)].name));
      }
    if (splits_[2].source < 0)
      n.fail("from_file needs test trials: set test_file, or test_range (trials of file)");
  }

  const Split& split_of(Stream s) const {
    switch (s) {
      case Stream::Train:
        return splits_[0];
      case Stream::Validation:
        return splits_[1];
      default:
        return splits_[2];  // test and example trials
    }
  }

  // The training split's order in an epoch: a Fisher-Yates shuffle keyed by (seed, epoch).
  const std::vector<std::uint64_t>& order(std::uint64_t epoch) {
    if (order_epoch_ != epoch || order_.empty()) {
      const auto n = splits_[0].count;
      order_.resize(n);
      std::iota(order_.begin(), order_.end(), std::uint64_t{0});
      rng::Stream r(seed_, rng::Purpose::TrialOrder, epoch);
      for (std::uint64_t i = n; i > 1; --i) std::swap(order_[i - 1], order_[r.below(i)]);
      order_epoch_ = epoch;
    }
    return order_;
  }

  // The channel of a unit, or -1 for a unit left out; throws for a unit beyond the map or channels.
  std::int64_t channel_of(double unit) const {
    if (!(unit >= 0) || unit != std::floor(unit)) return -2;
    const auto u = static_cast<std::uint64_t>(unit);
    if (!map_.empty()) return u < map_.size() ? map_[u] : -2;
    const auto c = u / bin_;
    return c < channels_ ? static_cast<std::int64_t>(c) : -2;
  }

  // The raw spikes of trial k: times (file units) and units.
  void raw(const Source& s, std::uint64_t k, std::vector<double>& times, std::vector<double>& units) const {
    if (s.layout == Layout::Shd) {
      times = std::move(s.reader->read_ragged("/spikes/times", k, 1).front());
      units = std::move(s.reader->read_ragged("/spikes/units", k, 1).front());
    } else {
      const auto a = s.offsets[k], n = s.offsets[k + 1] - a;
      times = s.reader->read_doubles("/spikes/times_ms", a, n);
      units = s.reader->read_doubles("/spikes/units", a, n);
    }
  }

  // Trial k of `s` as step-sorted events. `problem` gets the first fault of the trial's data (and
  // the events are then incomplete).
  Trial events(std::uint64_t k, const std::vector<double>& times, const std::vector<double>& units,
               std::string* problem) const {
    Trial out;
    if (times.size() != units.size()) {
      *problem = fmt::format("trial {} has {} times but {} units", k, times.size(), units.size());
      return out;
    }
    std::vector<std::pair<std::uint32_t, std::uint32_t>> ev;  // (step, channel)
    ev.reserve(times.size());
    for (std::size_t i = 0; i < times.size(); ++i) {
      const double ms = times[i] * time_scale_;
      if (!(ms >= 0) || !std::isfinite(ms)) {
        *problem = fmt::format("trial {}: spike time {} is negative or not a number", k, times[i]);
        return out;
      }
      const auto c = channel_of(units[i]);
      if (c == -2) {
        *problem =
            fmt::format("trial {}: unit {} is beyond the input channels ({} with {})", k, units[i], channels_,
                        map_.empty() ? fmt::format("channel_bin = {}", bin_)
                                     : fmt::format("a channel_map of {} units", map_.size()));
        return out;
      }
      const auto step = static_cast<Step>(std::floor(ms / dt_ + 1e-9));
      if (c < 0 || step >= T_) continue;  // a unit left out, or after the trial's duration
      ev.emplace_back(static_cast<std::uint32_t>(step), static_cast<std::uint32_t>(c));
    }
    std::sort(ev.begin(), ev.end());
    const auto dup = std::adjacent_find(ev.begin(), ev.end());
    if (dup != ev.end()) {
      if (!merge_) {
        *problem = fmt::format(
            "trial {}: two spikes of input channel {} fall in step {} (dt = {} ms); a step holds one spike "
            "per channel: set [task] same_step = \"merge\" to count them as one, or use a smaller dt",
            k, dup->second, dup->first, dt_);
        return out;
      }
      ev.erase(std::unique(ev.begin(), ev.end()), ev.end());
    }
    out.step_begin.assign(static_cast<std::size_t>(T_) + 1, 0);
    for (const auto& e : ev) ++out.step_begin[e.first + 1];
    std::partial_sum(out.step_begin.begin(), out.step_begin.end(), out.step_begin.begin());
    out.channel.reserve(ev.size());
    for (const auto& e : ev) out.channel.push_back(e.second);
    return out;
  }

  Trial read_trial(const Source& s, std::uint64_t k) const {
    std::vector<double> times, units;
    raw(s, k, times, units);
    std::string problem;
    Trial t = events(k, times, units, &problem);
    if (!problem.empty()) throw UserError(fmt::format("'{}': {}", s.path.string(), problem));
    if (!classification_) t.targets = s.reader->read_doubles("/targets", k, 1);
    return t;
  }

  // Every trial of source i, read a batch at a time: a file the run would stumble on later is
  // refused now, before anything is written.
  void scan(const Node& n, std::size_t i) {
    const auto& s = sources_[i];
    const Node where = n.at(key_of_[i]);
    if (classification_) {
      for (std::size_t k = 0; k < s.labels.size(); ++k)
        if (static_cast<std::size_t>(s.labels[k]) >= classes_)
          bad(where, s, "/labels",
              fmt::format("trial {} has label {}, beyond the {} classes (readouts)", k, s.labels[k],
                          classes_));
    } else if (static_cast<double>(s.target_samples * sample_) < static_cast<double>(T_)) {
      bad(where, s, "/targets",
          fmt::format("{} samples every {} ms cover {} ms, less than duration_ms = {}", s.target_samples,
                      static_cast<double>(sample_) * dt_,
                      static_cast<double>(s.target_samples * sample_) * dt_, static_cast<double>(T_) * dt_));
    }
    constexpr std::uint64_t kBatch = 512;
    serialized([&] {
      for (std::uint64_t first = 0; first < s.trials; first += kBatch) {
        const auto count = std::min(kBatch, s.trials - first);
        std::vector<std::vector<double>> times, units;
        if (s.layout == Layout::Shd) {
          times = s.reader->read_ragged("/spikes/times", first, count);
          units = s.reader->read_ragged("/spikes/units", first, count);
        } else {
          times.resize(count);
          units.resize(count);
          const auto a = s.offsets[first], b = s.offsets[first + count];
          const auto t = s.reader->read_doubles("/spikes/times_ms", a, b - a);
          const auto u = s.reader->read_doubles("/spikes/units", a, b - a);
          for (std::uint64_t k = 0; k < count; ++k) {
            const auto lo = static_cast<std::ptrdiff_t>(s.offsets[first + k] - a);
            const auto hi = static_cast<std::ptrdiff_t>(s.offsets[first + k + 1] - a);
            times[k].assign(t.begin() + lo, t.begin() + hi);
            units[k].assign(u.begin() + lo, u.begin() + hi);
          }
        }
        for (std::uint64_t k = 0; k < count; ++k) {
          std::string problem;
          events(first + k, times[k], units[k], &problem);
          if (!problem.empty())
            bad(where, s, s.layout == Layout::Shd ? "/spikes" : "/spikes/times_ms, /spikes/units", problem);
        }
      }
    });
  }

  std::uint64_t seed_;
  double dt_;
  std::string layout_key_;
  Step T_ = 0, window_ = 0, sample_ = 1;
  std::size_t channels_ = 0, classes_ = 0, outputs_ = 0;
  std::uint64_t bin_ = 1;
  std::vector<std::int64_t> map_;
  bool shuffle_ = true, merge_ = false, classification_ = true;
  double time_scale_ = 1.0;
  std::vector<Source> sources_;
  std::vector<std::string> key_of_;  // the model key of each source
  std::array<Split, 3> splits_;
  std::vector<std::uint64_t> order_;
  std::uint64_t order_epoch_ = std::numeric_limits<std::uint64_t>::max();
  // The current trial.
  int source_ = 0, label_ = -1;
  std::uint64_t index_ = 0;
  Trial trial_;
};

const Registry::Add registered{
    {"from_file", "trials from HDF5 files: the Spiking Heidelberg Digits layout or the Plexus layout",
     [](const Node& n, double dt, std::uint64_t seed) -> std::unique_ptr<Task> {
       return std::make_unique<FromFile>(n, dt, seed);
     }}};

}  // namespace
}  // namespace plexus::task
