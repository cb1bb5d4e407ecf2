#include "dht/packed_record.h"

#include <cassert>

namespace sippeer::dht {

namespace packed {
namespace {

std::size_t varint_size(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

unsigned char* write_varint(unsigned char* p, std::uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<unsigned char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<unsigned char>(v);
  return p;
}

// Expiry in ms since the driver's epoch; a test or the simulator may use
// times before it, hence zigzag.
std::uint64_t zigzag(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
std::int64_t unzigzag(std::uint64_t v) {
  return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

// Just past the AOR: where the capacity varint starts.
const unsigned char* past_aor(const unsigned char* block) {
  const std::string_view aor = aor_of(block);
  return reinterpret_cast<const unsigned char*>(aor.data() + aor.size());
}

}  // namespace

std::size_t packed_size(const Record& r, Time expires) {
  std::size_t n = kVarintsAt + varint_size(r.aor.size()) + r.aor.size();
  // The capacity varint is sized for the largest capacity this size can
  // get (the pool rounds up by at most 7), so writing it never moves the
  // rest.
  n += varint_size(r.version) + varint_size(zigzag(expires.time_since_epoch().count())) +
       varint_size(r.bindings.size());
  for (const std::string& v : r.bindings) n += varint_size(v.size()) + v.size();
  return n + varint_size(n + 32);
}

std::size_t capacity_of(const unsigned char* block) {
  std::uint64_t cap;
  read_varint(past_aor(block), cap);
  return static_cast<std::size_t>(cap);
}

void write_block(unsigned char* block, std::size_t capacity, const Record& r, Time expires) {
  std::memcpy(block, static_cast<const void*>(&r.key), kKeyBytes);
  block[kKindAt] = static_cast<unsigned char>(r.kind);
  unsigned char* p = write_varint(block + kVarintsAt, r.aor.size());
  std::memcpy(p, r.aor.data(), r.aor.size());
  p += r.aor.size();
  p = write_varint(p, capacity);
  p = write_varint(p, r.version);
  p = write_varint(p, zigzag(expires.time_since_epoch().count()));
  p = write_varint(p, r.bindings.size());
  for (const std::string& v : r.bindings) {
    p = write_varint(p, v.size());
    std::memcpy(p, v.data(), v.size());
    p += v.size();
  }
  assert(static_cast<std::size_t>(p - block) <= capacity);
}

unsigned char* new_block(BlockPool& pool, const Record& r, Time expires) {
  const std::size_t capacity = BlockPool::capacity_for(packed_size(r, expires));
  unsigned char* block = pool.allocate(capacity);
  write_block(block, capacity, r, expires);
  return block;
}

void free_block(BlockPool& pool, unsigned char* block) { pool.release(block, capacity_of(block)); }

}  // namespace packed

const unsigned char* RecordView::after_aor() const { return packed::skip_varint(packed::past_aor(block_)); }

std::uint64_t RecordView::version() const {
  std::uint64_t v;
  packed::read_varint(after_aor(), v);
  return v;
}

Time RecordView::expires() const {
  std::uint64_t z;
  packed::read_varint(packed::skip_varint(after_aor()), z);
  return Time{Duration{packed::unzigzag(z)}};
}

RecordView::Values RecordView::values() const {
  const unsigned char* p = packed::skip_varint(packed::skip_varint(after_aor()));
  std::uint64_t count;
  p = packed::read_varint(p, count);
  return Values{p, static_cast<std::size_t>(count)};
}

bool RecordView::Values::equals(const std::vector<std::string>& other) const {
  if (other.size() != count_) return false;
  auto it = begin();
  for (const std::string& s : other) {
    if (*it != s) return false;
    ++it;
  }
  return true;
}

std::vector<std::string> RecordView::Values::strings() const {
  std::vector<std::string> out;
  out.reserve(count_);
  for (std::string_view v : *this) out.emplace_back(v);
  return out;
}

Record RecordView::record() const {
  Record r;
  r.key = key();
  r.aor = std::string(aor());
  r.version = version();
  r.kind = kind();
  r.bindings = values().strings();
  return r;
}

StoredRecord RecordView::stored() const { return StoredRecord{record(), expires()}; }

}  // namespace sippeer::dht
