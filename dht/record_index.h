// RecordIndex: a node's records by (key, AOR, kind), for MemoryStorage.
//
// An open-addressing hash table (linear probing) of 8-byte slots, each a
// pointer to a record with 16 bits of the record's hash in its top bits.
// Why not std::unordered_set: every REGISTER finds its record several
// times at its owner and twice at each replica, mostly for AORs not
// stored yet, and a miss in a node-based set reads the bucket, the node
// before the chain, and each node of the chain (3-4 cache misses at
// 1,000,000 records; 8 % of a ring node's CPU at 14,000 new AORs/s, perf,
// issue 15). Here a miss reads one or two adjacent slots, and a hit one
// more line, the record's. The tag lets a probe pass over other records
// without reading them (one in 65,536 is read in vain).
//
// Why 8 bytes and not a 16-byte hash beside the pointer: at 714,000
// records the slots were 16.7 MB, 23 B per registration, of a one-node
// budget of ~190 B (issue 15). A user-space pointer on the 64-bit Linux
// this runs on has its top 16 bits clear (47-bit address space unless a
// program asks mmap for more, which nothing here does); put() checks.
// What the tag drops, growing and erasing recompute from the record.
//
// Records are owned here as packed blocks (packed_record.h). A block stays
// where it is while replacements fit in it; put() says when one did not
// and the record moved (the ring order points at blocks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "dht/block_pool.h"
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
  // The record stored, replacing the one with its key, AOR and kind if any.
  Put put(const Record& r, Time expires);
  bool erase(const Id& key, std::string_view aor, RecordKind kind);
  std::size_t size() const { return size_; }

  // Every record, in slot order (no meaning); `fn` must not change the index.
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (Slot s : slots_)
      if (s) fn(RecordView(block_of(s)));
  }

 private:
  // A block's address in the low 48 bits, the top 16 bits of its hash
  // above them; 0 is an empty slot.
  using Slot = std::uint64_t;
  static constexpr int kTagShift = 48;
  static constexpr Slot kAddressMask = (Slot{1} << kTagShift) - 1;
  static unsigned char* block_of(Slot s) { return reinterpret_cast<unsigned char*>(s & kAddressMask); }
  static Slot tag_of(std::uint64_t hash) { return hash & ~kAddressMask; }
  static Slot slot_for(unsigned char* block, std::uint64_t hash);

  static std::uint64_t hash_of(const Id& key, std::string_view aor, RecordKind kind);
  static std::uint64_t hash_of(const unsigned char* block);
  static bool same(const unsigned char* block, const Id& key, std::string_view aor, RecordKind kind) {
    return packed::kind_of(block) == kind && packed::key_is(block, key) && packed::aor_of(block) == aor;
  }
  // The slot holding (key, aor, kind), or the empty slot where it would go.
  std::size_t probe(std::uint64_t hash, const Id& key, std::string_view aor, RecordKind kind) const;
  void grow();

  BlockPool pool_;  // the records' blocks; declared first, so destroyed last
  std::vector<Slot> slots_;  // a power of two, at most 3/4 full; empty until the first put
  std::size_t size_ = 0;
};

}  // namespace sippeer::dht
