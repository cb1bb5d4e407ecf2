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
// Records are owned here as packed blocks (packed_record.h). A block stays
// where it is while replacements fit in it; put() says when one did not
// and the record moved (the ring order points at blocks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "dht/packed_record.h"
#include "dht/record.h"

namespace sippeer::dht {

class RecordIndex {
 public:
  RecordIndex() = default;
  RecordIndex(const RecordIndex&) = delete;
  RecordIndex& operator=(const RecordIndex&) = delete;
  ~RecordIndex();

  // The record's block, or nullptr.
  const unsigned char* find(const Id& key, std::string_view aor, RecordKind kind) const;
  struct Put {
    const unsigned char* block;  // where the record is now
    bool added;                  // it was not stored before
    bool moved;                  // it was, and did not fit in its old block
  };
  // rec stored, replacing the record with its key, AOR and kind if any.
  Put put(const Record& r, Time expires);
  bool erase(const Id& key, std::string_view aor, RecordKind kind);
  std::size_t size() const { return size_; }

  // Every record, in slot order (no meaning); `fn` must not change the index.
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (const Slot& s : slots_)
      if (s.rec) fn(RecordView(s.rec));
  }

 private:
  struct Slot {
    std::uint64_t hash = 0;
    unsigned char* rec = nullptr;  // a packed block; nullptr: empty
  };
  static std::uint64_t hash_of(const Id& key, std::string_view aor, RecordKind kind);
  static bool same(const unsigned char* block, const Id& key, std::string_view aor, RecordKind kind) {
    return packed::kind_of(block) == kind && packed::key_is(block, key) && packed::aor_of(block) == aor;
  }
  // The slot holding (key, aor, kind), or the empty slot where it would go.
  std::size_t probe(std::uint64_t hash, const Id& key, std::string_view aor, RecordKind kind) const;
  void grow();

  std::vector<Slot> slots_;  // a power of two, at most 3/4 full; empty until the first put
  std::size_t size_ = 0;
};

}  // namespace sippeer::dht
