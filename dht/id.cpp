#include "dht/id.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

namespace sippeer::dht {

Id Id::from_u64(std::uint64_t v) {
  Id id;
  id.w_[kLimbs - 1] = static_cast<std::uint32_t>(v);
  id.w_[kLimbs - 2] = static_cast<std::uint32_t>(v >> 32);
  return id;
}

Id Id::from_bytes(const std::array<std::uint8_t, 20>& b) {
  Id id;
  for (int i = 0; i < kLimbs; ++i) {
    id.w_[i] = (std::uint32_t{b[4 * i]} << 24) | (std::uint32_t{b[4 * i + 1]} << 16) |
               (std::uint32_t{b[4 * i + 2]} << 8) | std::uint32_t{b[4 * i + 3]};
  }
  return id;
}

namespace {
// Hex digit values, 0xff for anything else: one load per character instead
// of three range tests (ids are decoded from every node URI of every
// overlay message; the simulator spent 9 % of its time here).
constexpr std::array<std::uint8_t, 256> kHexValue = [] {
  std::array<std::uint8_t, 256> t{};
  for (auto& v : t) v = 0xff;
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = static_cast<std::uint8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) t[static_cast<std::size_t>(c)] = static_cast<std::uint8_t>(c - 'a' + 10);
  for (int c = 'A'; c <= 'F'; ++c) t[static_cast<std::size_t>(c)] = static_cast<std::uint8_t>(c - 'A' + 10);
  return t;
}();

// Eight hex digits at once (SWAR): `chunk` holds them first digit in the
// lowest byte, as loaded from memory. Each byte is checked to be 0-9, a-f
// or A-F and turned into its value, and the eight values are packed into
// 32 bits, first digit most significant. Ids are decoded from every node
// URI of every overlay message: a table lookup per digit was 5 % of the
// simulator's instructions.
std::optional<std::uint32_t> eight_hex_digits(std::uint64_t chunk) {
  static_assert(std::endian::native == std::endian::little, "the first digit must load into the lowest byte");
  constexpr std::uint64_t kOnes = 0x0101010101010101ull;
  constexpr std::uint64_t kHigh = 0x8080808080808080ull;
  // For bytes below 0x80, (x + (0x80 - lo)) has bit 7 set iff x >= lo,
  // and (x + (0x7f - hi)) iff x > hi; no byte carries into the next.
  auto at_least = [](std::uint64_t x, unsigned lo) { return x + kOnes * (0x80u - lo); };
  auto above = [](std::uint64_t x, unsigned hi) { return x + kOnes * (0x7fu - hi); };
  if (chunk & kHigh) return std::nullopt;
  const std::uint64_t lower = chunk | (kOnes * 0x20u);
  const std::uint64_t digit = at_least(chunk, '0') & ~above(chunk, '9') & kHigh;
  const std::uint64_t letter = at_least(lower, 'a') & ~above(lower, 'f') & kHigh;
  if ((digit | letter) != kHigh) return std::nullopt;
  // '0'-'9' are 0x30-0x39 and 'a'-'f' 0x61-0x66: the low nibble, plus 9
  // for a letter.
  std::uint64_t v = (chunk & (kOnes * 0x0fu)) + (letter >> 7) * 9;
  v = __builtin_bswap64(v);  // first digit in the top byte
  v = ((v >> 4) | v) & 0x00ff00ff00ff00ffull;
  v = ((v >> 8) | v) & 0x0000ffff0000ffffull;
  v = ((v >> 16) | v) & 0x00000000ffffffffull;
  return static_cast<std::uint32_t>(v);
}

// Each byte's two hex digits, so that an id is written 20 stores at a time
// rather than 40 shifts and masks.
constexpr std::array<std::array<char, 2>, 256> kHexPairs = [] {
  constexpr char kDigits[] = "0123456789abcdef";
  std::array<std::array<char, 2>, 256> t{};
  for (int b = 0; b < 256; ++b) t[static_cast<std::size_t>(b)] = {kDigits[b >> 4], kDigits[b & 0xf]};
  return t;
}();

}  // namespace

std::optional<Id> Id::from_hex(std::string_view hex) {
  // Each digit goes straight to its limb and shift, counting from the
  // least significant end; a limb is filled whole before it is stored.
  if (hex.empty() || hex.size() > 40) return std::nullopt;
  Id id;
  std::size_t end = hex.size();
  for (int limb = kLimbs - 1; end > 0; --limb) {
    const std::size_t begin = end > 8 ? end - 8 : 0;
    if (end - begin == 8) {
      std::uint64_t chunk;
      std::memcpy(&chunk, hex.data() + begin, 8);
      auto w = eight_hex_digits(chunk);
      if (!w) return std::nullopt;
      id.w_[limb] = *w;
      end = begin;
      continue;
    }
    std::uint32_t w = 0;
    std::uint8_t bad = 0;
    for (std::size_t i = begin; i < end; ++i) {
      const std::uint8_t v = kHexValue[static_cast<unsigned char>(hex[i])];
      bad |= v;
      w = (w << 4) | (v & 0xfu);
    }
    if (bad & 0xf0) return std::nullopt;
    id.w_[limb] = w;
    end = begin;
  }
  return id;
}

std::optional<Id> Id::from_decimal(std::string_view dec) {
  if (dec.empty() || dec.size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : dec) {
    if (c < '0' || c > '9') return std::nullopt;
    std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return from_u64(v);
}

void Id::append_hex(std::string& out, int min_digits) const {
  char buf[40];
  for (int i = 0; i < kLimbs; ++i)
    for (int b = 0; b < 4; ++b) {
      const auto& pair = kHexPairs[(w_[i] >> (24 - 8 * b)) & 0xffu];
      buf[i * 8 + 2 * b] = pair[0];
      buf[i * 8 + 2 * b + 1] = pair[1];
    }
  int first = 0;
  while (first < 39 && buf[first] == '0') ++first;
  first = std::min(first, 40 - std::clamp(min_digits, 0, 40));
  out.append(buf + first, buf + 40);
}

std::string Id::to_hex(int min_digits) const {
  std::string s;
  append_hex(s, min_digits);
  return s;
}

std::string Id::to_decimal() const { return std::to_string(low64()); }

bool Id::fits_u64() const {
  return std::all_of(w_.begin(), w_.begin() + kLimbs - 2, [](std::uint32_t w) { return w == 0; });
}

std::uint64_t Id::low64() const {
  return (std::uint64_t{w_[kLimbs - 2]} << 32) | w_[kLimbs - 1];
}

bool Id::is_zero() const {
  return std::all_of(w_.begin(), w_.end(), [](std::uint32_t w) { return w == 0; });
}

bool Id::bit(int i) const { return (w_[kLimbs - 1 - i / 32] >> (i % 32)) & 1u; }

Id Id::operator+(const Id& o) const {
  Id r;
  std::uint64_t carry = 0;
  for (int i = kLimbs - 1; i >= 0; --i) {
    std::uint64_t s = std::uint64_t{w_[i]} + o.w_[i] + carry;
    r.w_[i] = static_cast<std::uint32_t>(s);
    carry = s >> 32;
  }
  return r;
}

Id Id::operator-(const Id& o) const {
  Id r;
  std::int64_t borrow = 0;
  for (int i = kLimbs - 1; i >= 0; --i) {
    std::int64_t d = std::int64_t{w_[i]} - o.w_[i] - borrow;
    borrow = d < 0 ? 1 : 0;
    r.w_[i] = static_cast<std::uint32_t>(d + (borrow << 32));
  }
  return r;
}

Id Id::masked(int bits) const {
  // The full width is the common case (every ring but the report's small
  // examples), and ring arithmetic masks on every add and distance.
  if (bits >= kMaxBits) return *this;
  Id r = *this;
  for (int i = 0; i < kLimbs; ++i) {
    int low_bit = (kLimbs - 1 - i) * 32;  // bit index of this limb's LSB
    if (low_bit >= bits) r.w_[i] = 0;
    else if (low_bit + 32 > bits) r.w_[i] &= (1u << (bits - low_bit)) - 1u;
  }
  return r;
}

Id Id::pow2(int k) {
  Id r;
  r.w_[kLimbs - 1 - k / 32] = 1u << (k % 32);
  return r;
}

std::size_t Id::hash() const {
  std::uint64_t h = 1469598103934665603ull;
  for (auto w : w_) h = (h ^ w) * 1099511628211ull;
  return static_cast<std::size_t>(h);
}

}  // namespace sippeer::dht
