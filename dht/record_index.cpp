#include "dht/record_index.h"

#include <functional>

namespace sippeer::dht {

RecordIndex::~RecordIndex() {
  for (Slot& s : slots_)
    if (s.rec) packed::free_block(s.rec);
}

std::uint64_t RecordIndex::hash_of(const Id& key, std::string_view aor, RecordKind kind) {
  // The key is a SHA-1 already; the AOR tells apart keys that collide on a
  // small ring, the kind an AOR's several records. The final multiply
  // spreads all of it into the low bits the slot number is taken from.
  const std::uint64_t h = key.low64() ^ std::hash<std::string_view>{}(aor) ^ static_cast<std::uint64_t>(kind);
  return (h ^ (h >> 29)) * 0x9e3779b97f4a7c15ull;
}

std::size_t RecordIndex::probe(std::uint64_t hash, const Id& key, std::string_view aor, RecordKind kind) const {
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (!s.rec || (s.hash == hash && same(s.rec, key, aor, kind))) return i;
  }
}

const unsigned char* RecordIndex::find(const Id& key, std::string_view aor, RecordKind kind) const {
  if (size_ == 0) return nullptr;
  return slots_[probe(hash_of(key, aor, kind), key, aor, kind)].rec;
}

RecordIndex::Put RecordIndex::put(const Record& r, Time expires) {
  if ((size_ + 1) * 4 > slots_.size() * 3) grow();
  const std::uint64_t hash = hash_of(r.key, r.aor, r.kind);
  Slot& s = slots_[probe(hash, r.key, r.aor, r.kind)];
  if (s.rec) {
    // A refresh changes a few digits: it fits where the record is.
    const std::size_t capacity = packed::capacity_of(s.rec);
    if (packed::packed_size(r, expires) <= capacity) {
      packed::write_block(s.rec, capacity, r, expires);
      return {s.rec, false, false};
    }
    packed::free_block(s.rec);
    s.rec = packed::new_block(r, expires);
    return {s.rec, false, true};
  }
  s = Slot{hash, packed::new_block(r, expires)};
  ++size_;
  return {s.rec, true, false};
}

bool RecordIndex::erase(const Id& key, std::string_view aor, RecordKind kind) {
  if (size_ == 0) return false;
  const std::size_t mask = slots_.size() - 1;
  std::size_t hole = probe(hash_of(key, aor, kind), key, aor, kind);
  if (!slots_[hole].rec) return false;
  packed::free_block(slots_[hole].rec);
  --size_;
  // Backward-shift deletion: later slots of the same run move into the
  // hole when their home slot does not lie between the hole and them, so
  // that no probe ever stops early at an empty slot (no tombstones).
  for (std::size_t j = (hole + 1) & mask; slots_[j].rec; j = (j + 1) & mask) {
    const std::size_t home = slots_[j].hash & mask;
    const bool home_in_hole_to_j = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (home_in_hole_to_j) continue;
    slots_[hole] = slots_[j];
    hole = j;
  }
  slots_[hole] = Slot{};
  return true;
}

void RecordIndex::grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(old.empty() ? 16 : old.size() * 2, Slot{});
  const std::size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (!s.rec) continue;
    std::size_t i = s.hash & mask;
    while (slots_[i].rec) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

}  // namespace sippeer::dht
