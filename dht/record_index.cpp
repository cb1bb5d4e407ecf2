#include "dht/record_index.h"

#include <functional>
#include <stdexcept>

namespace sippeer::dht {

RecordIndex::~RecordIndex() {
  // Pooled blocks go with the pool; larger ones were operator new's.
  for (Slot s : slots_)
    if (s) packed::free_block(pool_, block_of(s));
}

std::uint64_t RecordIndex::hash_of(const Id& key, std::string_view aor, RecordKind kind) {
  // The key is a SHA-1 already; the AOR tells apart keys that collide on a
  // small ring, the kind an AOR's several records. The final multiply
  // spreads all of it into the low bits the slot number is taken from
  // and the top bits the tag is.
  const std::uint64_t h = key.low64() ^ std::hash<std::string_view>{}(aor) ^ static_cast<std::uint64_t>(kind);
  return (h ^ (h >> 29)) * 0x9e3779b97f4a7c15ull;
}

std::uint64_t RecordIndex::hash_of(const unsigned char* block) {
  const RecordView v(block);
  return hash_of(v.key(), v.aor(), v.kind());
}

RecordIndex::Slot RecordIndex::slot_for(unsigned char* block, std::uint64_t hash) {
  const auto address = reinterpret_cast<std::uintptr_t>(block);
  static_assert(sizeof(address) == sizeof(Slot), "a 64-bit address space");
  if (address & ~kAddressMask) throw std::length_error("RecordIndex: an address past 48 bits cannot be tagged");
  return static_cast<Slot>(address) | tag_of(hash);
}

std::size_t RecordIndex::probe(std::uint64_t hash, const Id& key, std::string_view aor, RecordKind kind) const {
  const std::size_t mask = slots_.size() - 1;
  const Slot tag = tag_of(hash);
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot s = slots_[i];
    if (!s || (tag_of(s) == tag && same(block_of(s), key, aor, kind))) return i;
  }
}

const unsigned char* RecordIndex::find(const Id& key, std::string_view aor, RecordKind kind) const {
  if (size_ == 0) return nullptr;
  return block_of(slots_[probe(hash_of(key, aor, kind), key, aor, kind)]);
}

RecordIndex::Put RecordIndex::put(const Record& r, Time expires) {
  if ((size_ + 1) * 4 > slots_.size() * 3) grow();
  const std::uint64_t hash = hash_of(r.key, r.aor, r.kind);
  Slot& s = slots_[probe(hash, r.key, r.aor, r.kind)];
  if (s) {
    // A refresh changes a few digits: it fits where the record is.
    unsigned char* block = block_of(s);
    const std::size_t capacity = packed::capacity_of(block);
    if (packed::packed_size(r, expires) <= capacity) {
      packed::write_block(block, capacity, r, expires);
      return {block, false, false};
    }
    unsigned char* moved = packed::new_block(pool_, r, expires);
    packed::free_block(pool_, block);
    s = slot_for(moved, hash);
    return {moved, false, true};
  }
  unsigned char* block = packed::new_block(pool_, r, expires);
  s = slot_for(block, hash);
  ++size_;
  return {block, true, false};
}

bool RecordIndex::erase(const Id& key, std::string_view aor, RecordKind kind) {
  if (size_ == 0) return false;
  const std::size_t mask = slots_.size() - 1;
  std::size_t hole = probe(hash_of(key, aor, kind), key, aor, kind);
  if (!slots_[hole]) return false;
  packed::free_block(pool_, block_of(slots_[hole]));
  --size_;
  // Backward-shift deletion: later slots of the same run move into the
  // hole when their home slot does not lie between the hole and them, so
  // that no probe ever stops early at an empty slot (no tombstones). A
  // slot's home needs its full hash, read again from its record.
  for (std::size_t j = (hole + 1) & mask; slots_[j]; j = (j + 1) & mask) {
    const std::size_t home = hash_of(block_of(slots_[j])) & mask;
    const bool home_in_hole_to_j = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (home_in_hole_to_j) continue;
    slots_[hole] = slots_[j];
    hole = j;
  }
  slots_[hole] = 0;
  return true;
}

void RecordIndex::grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(old.empty() ? 16 : old.size() * 2, 0);
  const std::size_t mask = slots_.size() - 1;
  for (Slot s : old) {
    if (!s) continue;
    std::size_t i = hash_of(block_of(s)) & mask;
    while (slots_[i]) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

}  // namespace sippeer::dht
