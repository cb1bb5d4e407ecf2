// Address -> host index for the simulated network: one lookup per message
// sent. An unordered_map<std::string, ...> costs three cache misses there
// at 100,000 nodes (the bucket, the node, and the key's heap text, since
// "10.1.134.160:5060" is past std::string's 15 inline bytes): 3.4-4.8 % of the
// simulator's time. Here an address that fits in a slot (every address
// the simulator makes does) is kept in the slot itself, so a lookup reads
// one 32-byte slot; longer ones go to an ordinary map.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sippeer::sim {

class AddressIndex {
 public:
  static constexpr std::uint32_t kNone = 0xffffffffu;

  // Adds `address` or points it at another host.
  void set(std::string_view address, std::uint32_t host) {
    if (address.size() > kInline) {
      long_[std::string(address)] = host;
      return;
    }
    if ((used_ + 1) * 2 > slots_.size()) grow();
    Slot& s = slots_[probe(address)];
    if (s.host == kNone) ++used_;
    s.host = host;
    s.size = static_cast<std::uint8_t>(address.size());
    std::memcpy(s.text, address.data(), address.size());
  }

  std::uint32_t find(std::string_view address) const {
    if (address.size() > kInline) {
      auto it = long_.find(std::string(address));
      return it == long_.end() ? kNone : it->second;
    }
    if (slots_.empty()) return kNone;
    return slots_[probe(address)].host;
  }

 private:
  static constexpr std::size_t kInline = 27;
  struct Slot {
    std::uint32_t host = kNone;  // kNone: empty
    std::uint8_t size = 0;
    char text[kInline];
  };
  static_assert(sizeof(Slot) == 32);

  // The slot holding `address`, or the empty one where it would go
  // (linear probing; the table is at most half full).
  std::size_t probe(std::string_view address) const {
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = std::hash<std::string_view>{}(address) & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.host == kNone || (s.size == address.size() && std::memcmp(s.text, address.data(), s.size) == 0))
        return i;
    }
  }

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 1024 : old.size() * 2, Slot{});
    for (const Slot& s : old)
      if (s.host != kNone) slots_[probe({s.text, s.size})] = s;
  }

  std::vector<Slot> slots_;  // a power of two in size
  std::size_t used_ = 0;
  std::unordered_map<std::string, std::uint32_t> long_;
};

}  // namespace sippeer::sim
