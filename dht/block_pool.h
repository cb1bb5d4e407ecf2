// BlockPool: memory for one RecordIndex's packed records, by size class.
//
// Why not malloc: a registration is one ~150-byte block, and malloc adds
// an 8-byte header and rounds to 16, ~16 bytes a record (11 MB at the
// ~686,000 registrations one node held in bench/register.sh's sweep,
// issue 15), and it interleaves these long-lived blocks with the SIP
// path's short-lived buffers, so that RSS varied by 15 MB between runs.
// Here a block is its size rounded up to 8, carved from pages that hold
// only records of that size.
//
// Classes and pages are made when first used, and a class's pages double
// from 4 blocks up to 64 KiB, so that the simulator's thousands of nodes,
// each with its own index and a few records, pay a few hundred bytes, not
// a page per class. A freed block goes on its class's free list for the
// next record of that size; pages are given back when the pool is
// destroyed. Blocks past kMaxPooled come from operator new.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace sippeer::dht {

class BlockPool {
 public:
  static constexpr std::size_t kAlign = 8;
  static constexpr std::size_t kMaxPooled = 2048;

  BlockPool() = default;
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  // What a block asked for with `size` bytes can hold: allocate(capacity)
  // gives exactly that.
  static std::size_t capacity_for(std::size_t size) { return (size + kAlign - 1) & ~(kAlign - 1); }
  // A block of `capacity` bytes (a capacity_for value), aligned to 8.
  unsigned char* allocate(std::size_t capacity);
  // A block from allocate(capacity), with the same capacity.
  void release(unsigned char* block, std::size_t capacity);

  // Bytes taken from the system for pooled blocks (tests, benches).
  std::size_t reserved_bytes() const { return reserved_; }

 private:
  struct Class {
    std::size_t size;               // bytes a block
    unsigned char* free = nullptr;  // freed blocks, each holding the next's address
    unsigned char* next = nullptr;  // the current page's unused part
    unsigned char* end = nullptr;
    std::size_t page_blocks = 4;    // blocks in the next page
  };
  Class& class_for(std::size_t capacity);

  std::vector<Class> classes_;  // by size, made when first used
  std::vector<std::unique_ptr<std::uint64_t[]>> pages_;
  std::size_t reserved_ = 0;
};

}  // namespace sippeer::dht
