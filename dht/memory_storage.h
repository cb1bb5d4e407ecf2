// The default Storage: the records in a hash set, so that finding one
// (every REGISTER, Store, Transfer and lookup does, often twice) is one
// hash probe, and their ring order kept lazily beside it, so that a ring
// interval is one or two binary searches and a walk.
//
// Why lazily: the order is read only when the ring changes (a hand-over,
// a replica resync, a leave) or someone lists records, while a ring node
// inserts a record per new AOR at every copy. Keeping a tree in order on
// each insert was 12-16 % of a ring node's CPU at 12,000 new AORs/s (perf,
// issue 15: cache misses in the descent); appending to a vector is not.
// The order is merged when asked for.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "dht/ports.h"

namespace sippeer::dht {

class MemoryStorage final : public Storage {
 public:
  const StoredRecord* find(const Id& key, const std::string& aor,
                           RecordKind kind = RecordKind::Bindings) const override;
  void put(StoredRecord rec) override;
  bool erase(const Id& key, const std::string& aor, RecordKind kind = RecordKind::Bindings) override;
  std::size_t size() const override { return records_.size(); }
  std::size_t count(RecordKind kind) const override { return counts_[static_cast<std::size_t>(kind)]; }
  void for_each(const std::function<void(const StoredRecord&)>& fn) const override;
  void for_each_unordered(const std::function<void(const StoredRecord&)>& fn) const override;
  void visit_in(const Id& a, const Id& b, const std::function<bool(const StoredRecord&)>& fn) const override;
  Time expiry_floor() const override { return expiry_floor_; }
  void set_expiry_floor(Time floor) override { expiry_floor_ = floor; }

 private:
  // A (key, aor, kind) to look up without building a record.
  struct Probe {
    const Id& key;
    std::string_view aor;
    RecordKind kind;
  };
  struct Hash {
    using is_transparent = void;
    static std::size_t of(const Id& key, std::string_view aor, RecordKind kind) {
      // The key is a SHA-1 already; the AOR tells apart keys that collide
      // on a small ring, the kind an AOR's several records.
      return static_cast<std::size_t>(key.low64() * 0x9e3779b97f4a7c15ull) ^ std::hash<std::string_view>{}(aor) ^
             static_cast<std::size_t>(kind);
    }
    std::size_t operator()(const StoredRecord& r) const { return of(r.record.key, r.record.aor, r.record.kind); }
    std::size_t operator()(const Probe& p) const { return of(p.key, p.aor, p.kind); }
  };
  struct Same {
    using is_transparent = void;
    static bool eq(const StoredRecord& r, const Id& key, std::string_view aor, RecordKind kind) {
      return r.record.kind == kind && r.record.key == key && r.record.aor == aor;
    }
    bool operator()(const StoredRecord& a, const StoredRecord& b) const {
      return eq(a, b.record.key, b.record.aor, b.record.kind);
    }
    bool operator()(const StoredRecord& a, const Probe& p) const { return eq(a, p.key, p.aor, p.kind); }
    bool operator()(const Probe& p, const StoredRecord& a) const { return eq(a, p.key, p.aor, p.kind); }
  };
  // A record's place in the ring order: by key, then AOR (two AORs may
  // share a key on a small ring), then kind. The key's top 64 bits are
  // copied here so that sorting and searching SHA-1 keys rarely reads
  // the record itself.
  struct Entry {
    std::uint64_t high;
    const StoredRecord* rec;
  };
  static bool before(const Entry& x, const Entry& y);
  // The order, brought up to date: the records added since it was last
  // read are sorted and merged in; after an erase it is built anew.
  const std::vector<Entry>& ordered() const;

  // The records. A node-based set: an element never moves, so the order
  // can point at it. The set's elements are const only to protect their
  // hash; a replacement has the same key, AOR and kind (put).
  std::unordered_set<StoredRecord, Hash, Same> records_;
  mutable std::vector<Entry> order_;  // every record when last read, in ring order
  mutable std::vector<Entry> added_;  // records put since then, in no order
  // An erase leaves order_ pointing at a freed record: it is dropped and
  // rebuilt at the next read. Erasing is rare (expiry, handed-over ranges).
  mutable bool order_lost_ = false;
  Time expiry_floor_ = kNever;  // empty: nothing expires
  std::size_t counts_[4] = {};  // per RecordKind
};

}  // namespace sippeer::dht
