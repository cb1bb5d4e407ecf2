// The default Storage: an ordered in-memory set, so a ring interval is one
// or two range scans, and a hash index over it, so that finding one record
// (every REGISTER, Store, Transfer and lookup does, often twice) is one
// hash probe rather than a descent of a tree of 100,000 records.
#pragma once

#include <set>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "dht/ports.h"

namespace sippeer::dht {

class MemoryStorage final : public Storage {
 public:
  const StoredRecord* find(const Id& key, const std::string& aor,
                           RecordKind kind = RecordKind::Bindings) const override;
  void put(StoredRecord rec) override;
  bool erase(const Id& key, const std::string& aor, RecordKind kind = RecordKind::Bindings) override;
  std::size_t size() const override { return set_.size(); }
  std::size_t count(RecordKind kind) const override { return counts_[static_cast<std::size_t>(kind)]; }
  void for_each(const std::function<void(const StoredRecord&)>& fn) const override;
  void visit_in(const Id& a, const Id& b, const std::function<bool(const StoredRecord&)>& fn) const override;
  Time expiry_floor() const override { return expiry_floor_; }
  void set_expiry_floor(Time floor) override { expiry_floor_ = floor; }

 private:
  Time expiry_floor_ = kNever;  // empty: nothing expires
  // Ordered by ring key, then AOR (two AORs may share a key on a small
  // ring). The record is its own key: a map keyed by (key, aor) would hold
  // both a second time, and a map of maps a node and a tree more per
  // record. With 100,000 bindings that was ~180 of 514 bytes each.
  struct Probe {  // a (key, aor, kind) to look up without building a record
    const Id& key;
    std::string_view aor;
    RecordKind kind;
  };
  struct After {  // sorts after every record with this key
    const Id& key;
  };
  struct Order {
    using is_transparent = void;
    struct View {
      const Id& key;
      int after;  // 0 for a record or probe, 1 for After
      std::string_view aor;
      RecordKind kind;
    };
    static View view(const StoredRecord& r) { return {r.record.key, 0, r.record.aor, r.record.kind}; }
    static View view(const Probe& p) { return {p.key, 0, p.aor, p.kind}; }
    static View view(const After& a) { return {a.key, 1, {}, RecordKind::Bindings}; }
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      const View x = view(a), y = view(b);
      if (x.key < y.key) return true;
      if (y.key < x.key) return false;
      if (x.after != y.after) return x.after < y.after;
      if (x.aor != y.aor) return x.aor < y.aor;
      return x.kind < y.kind;
    }
  };
  std::set<StoredRecord, Order> set_;
  // The same records by (key, aor, kind): pointers into set_, whose
  // elements never move. ~40 bytes a record (4 MB per 100,000) for what
  // perf showed as 9.5% of a node's CPU at 12,000 new AORs/s: tree
  // descents in apply, store_here and replication (issue 15).
  struct Hash {
    using is_transparent = void;
    static std::size_t of(const Id& key, std::string_view aor, RecordKind kind) {
      // The key is a SHA-1 already; the AOR tells apart keys that collide
      // on a small ring, the kind an AOR's several records.
      return static_cast<std::size_t>(key.low64() * 0x9e3779b97f4a7c15ull) ^ std::hash<std::string_view>{}(aor) ^
             static_cast<std::size_t>(kind);
    }
    std::size_t operator()(const StoredRecord* r) const { return of(r->record.key, r->record.aor, r->record.kind); }
    std::size_t operator()(const Probe& p) const { return of(p.key, p.aor, p.kind); }
  };
  struct Same {
    using is_transparent = void;
    static bool eq(const StoredRecord* r, const Id& key, std::string_view aor, RecordKind kind) {
      return r->record.kind == kind && r->record.key == key && r->record.aor == aor;
    }
    bool operator()(const StoredRecord* a, const StoredRecord* b) const {
      return eq(a, b->record.key, b->record.aor, b->record.kind);
    }
    bool operator()(const StoredRecord* a, const Probe& p) const { return eq(a, p.key, p.aor, p.kind); }
    bool operator()(const Probe& p, const StoredRecord* a) const { return eq(a, p.key, p.aor, p.kind); }
  };
  std::unordered_set<const StoredRecord*, Hash, Same> index_;
  std::size_t counts_[4] = {};  // per RecordKind
};

}  // namespace sippeer::dht
