// A stored record packed into one heap block, and the view the Storage
// hands out to read it.
//
// Why: a node is a registrar, and memory per registration is what bounds
// how many phones it can hold. As a StoredRecord (a Record's std::string
// AOR, its vector, a std::string per binding, the struct itself) one
// registration took four malloc blocks and ~360 bytes of RSS for ~160
// bytes of data (issue 15: one node held ~714,000 registrations in
// 258 MB). Packed, it is one block the size of its data plus a few
// length bytes.
//
// The block, from its start:
//   the key's 20 bytes (Id's limbs as they lie in memory), the kind (1 byte),
//   then varints: the AOR's length and the AOR, the block's capacity, the
//   version, the expiry (ms, zigzag), the number of values, and each value
//   as its length and its bytes.
// The capacity lets a replacement that fits (a phone's refresh changes a
// few digits) be written in place, so that the ring order, which points at
// blocks, stays valid. Blocks come from the index's BlockPool
// (block_pool.h), not from malloc.
//
// A RecordView is a pointer into a block: it is valid until the storage
// changes (a put or an erase), like an iterator. Code that keeps a record
// past that copies it out with record() or stored().
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dht/block_pool.h"
#include "dht/id.h"
#include "dht/record.h"
#include "dht/time.h"

namespace sippeer::dht {

namespace packed {

inline constexpr std::size_t kKeyBytes = sizeof(Id);
static_assert(kKeyBytes == 20, "the block starts with the key's 20 bytes");
inline constexpr std::size_t kKindAt = kKeyBytes;
inline constexpr std::size_t kVarintsAt = kKindAt + 1;

// LEB128: 7 bits per byte, low first, the top bit set on all but the last.
inline const unsigned char* read_varint(const unsigned char* p, std::uint64_t& v) {
  v = 0;
  for (int shift = 0;; shift += 7) {
    const unsigned char b = *p++;
    v |= std::uint64_t{b & 0x7fu} << shift;
    if (!(b & 0x80u)) return p;
  }
}
inline const unsigned char* skip_varint(const unsigned char* p) {
  while (*p++ & 0x80u) {
  }
  return p;
}

// The AOR of a block, read without decoding anything after it (the hash
// index compares it on every probe that matches a hash).
inline std::string_view aor_of(const unsigned char* block) {
  std::uint64_t n;
  const unsigned char* p = read_varint(block + kVarintsAt, n);
  return {reinterpret_cast<const char*>(p), static_cast<std::size_t>(n)};
}
inline RecordKind kind_of(const unsigned char* block) { return static_cast<RecordKind>(block[kKindAt]); }
inline bool key_is(const unsigned char* block, const Id& key) {
  return std::memcmp(block, &key, kKeyBytes) == 0;
}

// The bytes a packed record takes, and the capacity of its block (what
// it was allocated with: packed_size rounded up by the pool).
std::size_t packed_size(const Record& r, Time expires);
std::size_t capacity_of(const unsigned char* block);

// A new block from `pool` holding the record (give it back with
// free_block), or the record written over `block` when it fits there
// (packed_size <= capacity_of): the key, AOR and kind must be the same.
unsigned char* new_block(BlockPool& pool, const Record& r, Time expires);
void write_block(unsigned char* block, std::size_t capacity, const Record& r, Time expires);
void free_block(BlockPool& pool, unsigned char* block);

}  // namespace packed

class RecordView {
 public:
  // One value (a binding, a credential, a message), in stored order.
  class Values {
   public:
    class iterator {
     public:
      using iterator_category = std::forward_iterator_tag;
      using value_type = std::string_view;
      using difference_type = std::ptrdiff_t;
      using pointer = const std::string_view*;
      using reference = std::string_view;
      iterator() = default;
      iterator(const unsigned char* p, std::size_t left) : p_(p), left_(left) { load(); }
      std::string_view operator*() const { return cur_; }
      iterator& operator++() {
        p_ = reinterpret_cast<const unsigned char*>(cur_.data() + cur_.size());
        --left_;
        load();
        return *this;
      }
      iterator operator++(int) {
        iterator old = *this;
        ++*this;
        return old;
      }
      friend bool operator==(const iterator& a, const iterator& b) { return a.left_ == b.left_; }

     private:
      void load() {
        if (left_ == 0) return;
        std::uint64_t n;
        const unsigned char* s = packed::read_varint(p_, n);
        cur_ = {reinterpret_cast<const char*>(s), static_cast<std::size_t>(n)};
      }
      const unsigned char* p_ = nullptr;
      std::size_t left_ = 0;
      std::string_view cur_;
    };
    Values(const unsigned char* first, std::size_t count) : first_(first), count_(count) {}
    iterator begin() const { return {first_, count_}; }
    iterator end() const { return {}; }
    std::size_t size() const { return count_; }
    bool empty() const { return count_ == 0; }
    std::string_view front() const { return *begin(); }
    // Element by element against strings kept elsewhere (a cache, a
    // record about to be stored) without copying these out.
    bool equals(const std::vector<std::string>& other) const;
    std::vector<std::string> strings() const;

   private:
    const unsigned char* first_;
    std::size_t count_;
  };

  explicit RecordView(const unsigned char* block) : block_(block) {}

  Id key() const {
    Id k;
    std::memcpy(static_cast<void*>(&k), block_, packed::kKeyBytes);
    return k;
  }
  RecordKind kind() const { return packed::kind_of(block_); }
  std::string_view aor() const { return packed::aor_of(block_); }
  std::uint64_t version() const;
  Time expires() const;
  Values values() const;
  // The values of a Bindings record are its bindings; named so where that
  // is what the caller means.
  Values bindings() const { return values(); }
  bool tombstone() const { return values().empty(); }

  // Copies out, for code that keeps the record past a change of storage.
  Record record() const;
  StoredRecord stored() const;

  const unsigned char* block() const { return block_; }

 private:
  // Past the AOR and the capacity: where the version starts.
  const unsigned char* after_aor() const;
  const unsigned char* block_;
};

// A found record copied out (tests, and code that keeps it).
inline std::optional<StoredRecord> stored_copy(const std::optional<RecordView>& view) {
  if (!view) return std::nullopt;
  return view->stored();
}

}  // namespace sippeer::dht
