// A zero-latency, in-order network for unit tests: every message is
// delivered in the order it was sent, at the current time, and a request to
// a dead or unknown address fails at once. Time moves only in run_for(), by
// jumping to the earliest node deadline. The simulator (tests/sim) adds
// latency, loss and scale; this stays small enough to read in one go.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dht/memory_storage.h"
#include "dht/node.h"

namespace sippeer::testing {

using namespace sippeer::dht;

struct Delivered {
  std::string from, to;
  bool is_request = true;
  Request request;
  Response response;
};

class TestNet {
 public:
  explicit TestNet(Config cfg) : cfg_(cfg), ring_(cfg.bits) {}

  Node& add(std::uint64_t id, std::string address = {}) {
    return add(Id::from_u64(id), address.empty() ? "10.0.0." + std::to_string(id) + ":5060" : address);
  }
  Node& add(const Id& id, const std::string& address) {
    auto e = std::make_unique<Entry>();
    e->net = this;
    e->address = address;
    e->random = std::make_unique<SplitMix64>(id.low64() * 7919 + 1);
    e->node = std::make_unique<Node>(cfg_, NodeRef{id, address}, *e, *e->random, e->storage, e->observer);
    Node& n = *e->node;
    entries_[address] = std::move(e);
    return n;
  }
  Node& node(const std::string& address) { return *entries_.at(address)->node; }
  Node& node(std::uint64_t id) { return node("10.0.0." + std::to_string(id) + ":5060"); }
  MemoryStorage& storage(std::uint64_t id) { return entries_.at(addr(id))->storage; }
  MemoryStorage& storage_at(std::uint64_t handle) { return storage(handle); }
  static std::string addr(std::uint64_t id) { return "10.0.0." + std::to_string(id) + ":5060"; }

  struct Events final : Observer {
    int joined = 0, left = 0, join_failed = 0;
    std::optional<NodeRef> duplicate;
    void on_joined() override { ++joined; }
    void on_left() override { ++left; }
    void on_join_failed() override { ++join_failed; }
    void on_duplicate_id(const NodeRef& n) override { duplicate = n; }
  };
  Events& events(std::uint64_t id) { return entries_.at(addr(id))->observer; }

  void kill(std::uint64_t id) { entries_.at(addr(id))->alive = false; }
  // A network split: from now on a message between addresses of different
  // sides fails as if the peer were dead (a request at once, a response is
  // lost). Addresses not named are on side 0. heal() joins them again.
  void split(const std::map<std::string, int>& side) { side_ = side; }
  void heal() { side_.clear(); }
  bool cut(const std::string& a, const std::string& b) const {
    if (side_.empty()) return false;
    auto side = [&](const std::string& x) { auto it = side_.find(x); return it == side_.end() ? 0 : it->second; };
    return side(a) != side(b);
  }
  bool alive(const std::string& a) const {
    auto it = entries_.find(a);
    return it != entries_.end() && it->second->alive;
  }

  // Run a call on a node and record its next deadline.
  template <typename F>
  void call(std::uint64_t id, F f) {
    Entry& e = *entries_.at(addr(id));
    e.deadline = f(*e.node, now_);
    drain();
  }

  void drain() {
    for (int guard = 0; !queue_.empty() && guard < 1'000'000; ++guard) {
      Msg m = std::move(queue_.front());
      queue_.pop_front();
      deliver(m);
    }
  }

  void run_for(Duration d) {
    const Time end = now_ + d;
    drain();
    for (;;) {
      Entry* next = nullptr;
      for (auto& [a, e] : entries_)
        if (e->alive && e->deadline <= end && (!next || e->deadline < next->deadline)) next = e.get();
      if (!next) break;
      if (next->deadline > now_) now_ = next->deadline;
      next->deadline = next->node->tick(now_);
      drain();
    }
    now_ = end;
  }

  Time now() const { return now_; }
  std::vector<Delivered> log;
  bool record = false;

 private:
  struct Entry final : Transport {
    TestNet* net = nullptr;
    std::string address;
    bool alive = true;
    MemoryStorage storage;
    Events observer;
    std::unique_ptr<SplitMix64> random;
    std::unique_ptr<Node> node;
    Time deadline = kNever;
    void send_request(TxnId txn, std::string_view to, const Request& req) override {
      net->queue_.push_back(Msg{true, address, std::string(to), txn, 0, req, {}});
    }
    void send_response(InboundId in, const Response& resp) override {
      auto it = net->inbound_.find(in);
      if (it == net->inbound_.end()) return;
      auto [requester, txn] = it->second;
      net->inbound_.erase(it);
      net->queue_.push_back(Msg{false, address, requester, txn, in, {}, resp});
    }
  };
  struct Msg {
    bool is_request;
    std::string from, to;
    TxnId txn;
    InboundId in;
    Request request;
    Response response;
  };

  void deliver(const Msg& m) {
    auto it = entries_.find(m.to);
    const bool ok = it != entries_.end() && it->second->alive && !cut(m.from, m.to);
    Entry* sender = entries_.at(m.from).get();
    if (m.is_request) {
      if (!ok) {
        if (sender->alive) sender->deadline = sender->node->on_failure(now_, m.txn);
        return;
      }
      if (record) log.push_back({m.from, m.to, true, m.request, {}});
      const InboundId in = next_inbound_++;
      inbound_[in] = {m.from, m.txn};
      it->second->deadline = it->second->node->on_request(now_, in, m.request);
    } else {
      if (!ok) return;
      if (record) log.push_back({m.from, m.to, false, {}, m.response});
      it->second->deadline = it->second->node->on_response(now_, m.txn, m.response);
    }
  }

  Config cfg_;
  Ring ring_;
  Time now_{Duration{1000}};
  std::map<std::string, std::unique_ptr<Entry>> entries_;
  std::deque<Msg> queue_;
  std::map<std::string, int> side_;
  std::map<InboundId, std::pair<std::string, TxnId>> inbound_;
  InboundId next_inbound_ = 1;
};

}  // namespace sippeer::testing
