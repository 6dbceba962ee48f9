#pragma once
// The sum of a batch's per-trial gradients over a fixed binary tree of the trial numbers, so that it
// does not depend on which rank, group or thread computed which trial, nor on the order in which the
// workers finished: every inner node is (left + right), element by element, and the tree is a pure
// function of the batch size B.
//
// The tree over trials [0, B): a node [a, b) with b - a > 1 splits at a + P, P the largest power of
// two below b - a, so every left subtree is complete. Leaves (one trial's vector) and nodes made
// elsewhere (another group's) may arrive in any order: a node waits until its sibling is there, and
// the two are then added (left + right) into their parent, which goes on up. Every inner node is thus
// computed once, from the same two children, whatever the order of arrival. Held at any time: the
// nodes still waiting for a sibling (for leaves arriving in order, at most one per level: log2(B) + 1
// buffers). The nodes left when a group has pushed its contiguous range of trials are the tree's
// largest nodes inside it; the groups' nodes, exchanged, complete the tree. Pairwise summation also
// rounds less than a running sum (error O(log B) ulps instead of O(B)).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <stdexcept>
#include <utility>
#include <vector>

namespace plexus::learning {

template <class Real>
class TreeSum {
 public:
  struct Node {
    std::uint64_t a = 0, b = 0;  // trials [a, b)
    std::vector<Real> v;
  };

  // A new batch of `trials` trials of vectors of length `n`.
  void reset(std::uint64_t trials, std::size_t n) {
    for (auto& node : nodes_) spare_.push_back(std::move(node.v));
    nodes_.clear();
    trials_ = trials;
    n_ = n;
  }

  // Trial k's vector: swapped with a zeroed one of the same length (no copy).
  void push(std::uint64_t k, std::vector<Real>& v) {
    if (v.size() != n_) throw std::logic_error("TreeSum: a vector of the wrong length");
    Node node{k, k + 1, fresh()};
    node.v.swap(v);
    push_node(std::move(node));
  }

  // A node [a, b) of the tree, in any order; merged with its sibling (and on up) once both are here.
  void push_node(Node node) {
    if (node.a >= node.b || node.b > trials_) throw std::logic_error("TreeSum: a node outside the batch");
    for (;;) {
      // Nodes are kept sorted by their first trial; none may overlap.
      auto at = std::lower_bound(nodes_.begin(), nodes_.end(), node.a,
                                 [](const Node& n, std::uint64_t a) { return n.a < a; });
      if ((at != nodes_.end() && at->a < node.b) || (at != nodes_.begin() && std::prev(at)->b > node.a))
        throw std::logic_error("TreeSum: a trial was added twice");
      std::uint64_t lo = 0, mid = 0, hi = 0;
      if (!parent(node.a, node.b, lo, mid, hi)) {  // the root
        nodes_.insert(at, std::move(node));
        return;
      }
      const bool left = node.a == lo;
      auto sib = left ? at : (at == nodes_.begin() ? nodes_.end() : std::prev(at));
      const bool found =
          sib != nodes_.end() && (left ? (sib->a == mid && sib->b == hi) : (sib->a == lo && sib->b == mid));
      if (!found) {
        nodes_.insert(at, std::move(node));
        return;
      }
      Node& l = left ? node : *sib;
      const Node& r = left ? *sib : node;
      Real* __restrict lv = l.v.data();
      const Real* __restrict rv = r.v.data();
      for (std::size_t i = 0; i < n_; ++i) lv[i] = lv[i] + rv[i];
      Node up{lo, hi, {}};
      up.v.swap(l.v);
      spare_.push_back(std::move(left ? sib->v : node.v));
      nodes_.erase(sib);
      node = std::move(up);
    }
  }

  const std::vector<Node>& nodes() const { return nodes_; }
  std::vector<Node> take_nodes() {
    std::vector<Node> out;
    out.swap(nodes_);
    return out;
  }
  std::uint64_t trials() const { return trials_; }
  std::size_t length() const { return n_; }
  bool complete() const { return nodes_.size() == 1 && nodes_[0].a == 0 && nodes_[0].b == trials_; }
  // The root, once complete().
  const std::vector<Real>& result() const {
    if (!complete()) throw std::logic_error("TreeSum: the batch is not complete");
    return nodes_[0].v;
  }
  std::vector<Real>& result() {
    if (!complete()) throw std::logic_error("TreeSum: the batch is not complete");
    return nodes_[0].v;
  }
  // Bytes held in partial sums and spare buffers.
  std::size_t bytes() const {
    std::size_t b = 0;
    for (const auto& n : nodes_) b += n.v.capacity() * sizeof(Real);
    for (const auto& v : spare_) b += v.capacity() * sizeof(Real);
    return b;
  }

  // The parent [lo, hi) of node [a, b), split at mid; false for the root (or a range that is not a
  // node of the tree, which is refused).
  bool parent(std::uint64_t a, std::uint64_t b, std::uint64_t& lo, std::uint64_t& mid,
              std::uint64_t& hi) const {
    if (a == 0 && b == trials_) return false;
    lo = 0;
    hi = trials_;
    while (hi - lo > 1) {
      mid = lo + split(hi - lo);
      if ((a == lo && b == mid) || (a == mid && b == hi)) return true;
      if (b <= mid)
        hi = mid;
      else if (a >= mid)
        lo = mid;
      else
        break;
    }
    throw std::logic_error("TreeSum: not a node of the batch's tree");
  }
  // The size of the left child of a node of n > 1 trials: the largest power of two below n.
  static std::uint64_t split(std::uint64_t n) {
    std::uint64_t p = 1;
    while (p * 2 < n) p *= 2;
    return p;
  }

 private:
  std::vector<Real> fresh() {
    std::vector<Real> v;
    if (!spare_.empty()) {
      v = std::move(spare_.back());
      spare_.pop_back();
    }
    v.assign(n_, Real(0));
    return v;
  }

  std::uint64_t trials_ = 0;
  std::size_t n_ = 0;
  std::vector<Node> nodes_;
  std::vector<std::vector<Real>> spare_;
};

}  // namespace plexus::learning
