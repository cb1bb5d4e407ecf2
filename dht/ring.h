// The identifier circle of width m bits, and the interval tests Chord needs.
//
// Every interval test wraps around zero. When both ends are equal, a
// half-open interval (a, a] is the whole ring: that is what a node that is
// its own successor owns. (a, a) is everything but a.
#pragma once

#include <string>
#include <string_view>

#include "dht/id.h"

namespace sippeer::dht {

class Ring {
 public:
  // 3 <= bits <= 160; anything else is clamped by the caller's validation
  // (see Config::validate), and asserted here.
  explicit Ring(int bits = Id::kMaxBits);

  int bits() const { return bits_; }

  Id add(const Id& a, const Id& b) const { return (a + b).masked(bits_); }
  Id sub(const Id& a, const Id& b) const { return (a - b).masked(bits_); }
  // Clockwise distance from a to b.
  Id distance(const Id& a, const Id& b) const { return sub(b, a); }
  // Start of finger i (1-based): n + 2^(i-1) mod 2^m.
  Id finger_start(const Id& n, int i) const;
  bool valid(const Id& x) const { return x.masked(bits_) == x; }

  // x in (a, b]
  bool in_open_closed(const Id& x, const Id& a, const Id& b) const;
  // x in (a, b)
  bool in_open(const Id& x, const Id& a, const Id& b) const;

  // SHA-1 of the text, reduced to m bits (the low m bits of the digest).
  Id hash(std::string_view text) const;

  // How ids are written in URIs: decimal when m <= 64 (so the seed's
  // 5-bit examples read "sip:7@..."), otherwise lowercase hex of fixed
  // width (40 digits at m = 160), so that ids sort as text as on the ring.
  std::string format(const Id& id) const;
  void append_format(std::string& out, const Id& id) const;
  std::optional<Id> parse(std::string_view text) const;
  // Fixed-width lowercase hex, for logs and the admin API.
  std::string hex(const Id& id) const { return id.to_hex((bits_ + 3) / 4); }

 private:
  int bits_;
};

}  // namespace sippeer::dht
