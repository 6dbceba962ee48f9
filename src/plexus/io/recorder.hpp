#pragma once
// Recording into the result file: spikes (SONATA layout, sorted by time then id), sampled state
// variables and weight snapshots. Spikes are buffered in time slices: every rank sees every spike
// (the exchange is an allgather), and of each flush window rank r keeps the r-th slice of steps, so
// a collective append in rank order writes the window sorted by time without sorting or moving
// data between ranks.
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "plexus/comm/communicator.hpp"
#include "plexus/io/result_file.hpp"
#include "plexus/model/network.hpp"
#include "plexus/partition/partition.hpp"
#include "plexus/synapse/projection.hpp"

namespace plexus::io {

// What the recorder needs to know of each population on this rank.
struct RecordedPopulation {
  bool spiking = false;
  bool record_spikes = false;
  partition::IdRange local;
  std::vector<partition::IdRange> blocks;  // local index ranges per thread
  std::vector<std::string> variables;
  std::vector<const double*> arrays;  // same order as variables
  std::vector<std::string> units;     // same order as variables
};

class Recorder {
 public:
  // `resume`: continue a result file from a checkpoint taken before step resume->step: datasets are
  // reopened at the lengths they had then (nothing is created or written again).
  struct Resume {
    Step step = 0;
    std::map<std::string, std::uint64_t> lengths;  // dataset -> rows
    std::vector<std::int64_t> weight_next;         // per weight spec: snapshots taken
  };
  Recorder(const model::Network& net, const partition::Partition& part, comm::Communicator& comm,
           ResultFile& file, std::vector<RecordedPopulation> pops, int threads,
           const Resume* resume = nullptr);
  // Checks [record] against the populations (sampled variables exist) without writing anything:
  // ConfigError naming the key. The constructor checks too.
  static void check(const model::Network& net, const std::vector<RecordedPopulation>& pops);

  // Master thread: all spikes of step t (sorted by gid).
  void spikes(Step t, std::span<const Gid> sorted);
  // Any thread: samples of its own neurons after the update of step t.
  void sample(Step t, int thread);
  bool sample_due(Step) const { return sample_due_; }
  void begin_step(Step t);  // master, before the step's phases
  // True if a flush is due after step t (end of a flush window).
  bool flush_due(Step t) const;
  // Collective: writes buffered spikes and samples.
  void flush(Step next);
  // Weight snapshot before step t, if one is due (collective).
  bool weights_due(Step t) const;
  void snapshot_weights(Step t, const std::vector<synapse::Projection>& projections);
  std::size_t buffered_bytes() const;
  // After a flush at step t (a checkpoint), the current flush window goes on from t: the same
  // window end, this rank's time slice of what is left (so a resumed run at any rank count writes
  // the same data from t on).
  void restart_window(Step t);
  // Snapshots taken so far, per weight spec (checkpoint state).
  std::vector<std::int64_t> weight_positions() const {
    return std::vector<std::int64_t>(weight_next_.begin(), weight_next_.end());
  }

 private:
  // Starts the flush window at `begin` and this rank's time slice of it.
  void open_window(Step begin);
  void setup_spikes();
  void setup_samples(const model::SampleSpec& spec, int threads);
  void reopen(const std::string& path);  // a dataset of the resumed file (resume_ set)

  struct SpikeBuffer {
    int population;
    std::vector<double> times_ms;
    std::vector<std::uint64_t> node_ids;
  };
  struct SampleSet {
    std::vector<std::string> variables;
    std::vector<const double*> arrays;
    std::vector<std::string> units;
    Step interval;
    std::size_t col_begin = 0, col_end = 0;                                    // this rank's columns
    std::vector<std::vector<std::pair<std::size_t, std::size_t>>> per_thread;  // (column, local index)
    std::vector<std::vector<double>> buffer;  // per variable, rows x local columns
    std::vector<double> times_ms;             // rank 0 keeps the row times
    Step first_row_step = 0;                  // step whose sample is row 0 of the buffer
    std::size_t rows_cap = 0;
    std::string group;
  };

  std::size_t row_of(const SampleSet& s, Step t) const {
    // Samples are taken after steps t with (t + 1) % interval == 0; row 0 is the first such step at
    // or after first_row_step.
    return static_cast<std::size_t>((t + 1) / s.interval - s.first_row_step / s.interval - 1);
  }

  const Resume* resume_ = nullptr;  // during construction only
  const model::Network& net_;
  const partition::Partition& part_;
  comm::Communicator& comm_;
  ResultFile& file_;
  std::vector<RecordedPopulation> pops_;
  std::vector<SpikeBuffer> spike_buffers_;
  std::vector<int> buffer_of_population_;  // -1 if not recorded
  std::vector<SampleSet> samples_;
  Step window_begin_ = 0, window_end_ = 0, slice_begin_ = 0, slice_end_ = 0;
  bool sample_due_ = false;
  std::vector<std::size_t> weight_next_;  // per weight spec, index of the next snapshot step
  std::vector<bool> weight_ids_written_;
};

}  // namespace plexus::io
