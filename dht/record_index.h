// RecordIndex: a node's records by (key, AOR, kind), for MemoryStorage.
//
// An open-addressing hash table (linear probing) of slots that hold a
// record's full hash beside a pointer to it. Why not std::unordered_set:
// every REGISTER finds its record several times at its owner and twice at
// each replica, mostly for AORs not stored yet, and a miss in a node-based
// set reads the bucket, the node before the chain, and each node of the
// chain (3-4 cache misses at 1,000,000 records; 8 % of a ring node's CPU
// at 14,000 new AORs/s, perf, issue 15). Here a miss reads one or two
// adjacent slots, and a hit one more line, the record's.
//
// Records are owned here and never move (the ring order points at them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "dht/record.h"

namespace sippeer::dht {

class RecordIndex {
 public:
  RecordIndex() = default;
  RecordIndex(const RecordIndex&) = delete;
  RecordIndex& operator=(const RecordIndex&) = delete;
  ~RecordIndex();

  StoredRecord* find(const Id& key, std::string_view aor, RecordKind kind) const;
  // The record with rec's key, AOR and kind, replaced by rec if there was
  // one (false), else rec stored (true).
  std::pair<StoredRecord*, bool> put(StoredRecord&& rec);
  bool erase(const Id& key, std::string_view aor, RecordKind kind);
  std::size_t size() const { return size_; }

  // Every record, in slot order (no meaning); `fn` must not change the index.
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (const Slot& s : slots_)
      if (s.rec) fn(*s.rec);
  }

 private:
  struct Slot {
    std::uint64_t hash = 0;
    StoredRecord* rec = nullptr;  // nullptr: empty
  };
  static std::uint64_t hash_of(const Id& key, std::string_view aor, RecordKind kind);
  static bool same(const StoredRecord& r, const Id& key, std::string_view aor, RecordKind kind) {
    return r.record.kind == kind && r.record.key == key && r.record.aor == aor;
  }
  // The slot holding (key, aor, kind), or the empty slot where it would go.
  std::size_t probe(std::uint64_t hash, const Id& key, std::string_view aor, RecordKind kind) const;
  void grow();

  std::vector<Slot> slots_;  // a power of two, at most 3/4 full; empty until the first put
  std::size_t size_ = 0;
};

}  // namespace sippeer::dht
