#include "dht/block_pool.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <new>

namespace sippeer::dht {

namespace {
constexpr std::size_t kMaxPageBytes = 64 * 1024;
}

BlockPool::Class& BlockPool::class_for(std::size_t capacity) {
  // A handful of sizes in use: a sorted vector, searched.
  auto it = std::lower_bound(classes_.begin(), classes_.end(), capacity,
                             [](const Class& c, std::size_t size) { return c.size < size; });
  if (it == classes_.end() || it->size != capacity) it = classes_.insert(it, Class{capacity});
  return *it;
}

unsigned char* BlockPool::allocate(std::size_t capacity) {
  assert(capacity == capacity_for(capacity) && capacity >= sizeof(void*));
  if (capacity > kMaxPooled) return static_cast<unsigned char*>(::operator new(capacity));
  Class& c = class_for(capacity);
  if (c.free) {
    unsigned char* block = c.free;
    std::memcpy(&c.free, block, sizeof c.free);
    return block;
  }
  if (c.next == c.end) {
    const std::size_t bytes = c.page_blocks * capacity;
    // uint64_t words: the page, and so each block in it, is 8-aligned.
    pages_.push_back(std::make_unique_for_overwrite<std::uint64_t[]>(bytes / sizeof(std::uint64_t)));
    reserved_ += bytes;
    c.next = reinterpret_cast<unsigned char*>(pages_.back().get());
    c.end = c.next + bytes;
    c.page_blocks = std::min(c.page_blocks * 2, std::max<std::size_t>(kMaxPageBytes / capacity, 8));
  }
  unsigned char* block = c.next;
  c.next += capacity;
  return block;
}

void BlockPool::release(unsigned char* block, std::size_t capacity) {
  if (capacity > kMaxPooled) {
    ::operator delete(block);
    return;
  }
  Class& c = class_for(capacity);
  std::memcpy(block, &c.free, sizeof c.free);
  c.free = block;
}

}  // namespace sippeer::dht
