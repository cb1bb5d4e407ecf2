// The two small pieces of OpenSSL the node needs beyond SHA-1: hex output
// and HMAC-SHA256 under a fixed key (overlay P2P-Auth, digest nonces).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace sippeer::adaptor {

// Lower-case hex of n bytes.
std::string hex_of(const unsigned char* b, std::size_t n);

// The first `bytes` bytes (at most 32) of SHA-256 over `text`, as hex: the
// stable ids of kept messages, parked subscriptions and reginfo elements
// (issue 17), full width whatever overlay.id_bits cuts the ring's hash to.
// All zeros if OpenSSL fails.
std::string sha256_hex(std::string_view text, std::size_t bytes);

// HMAC-SHA256 under one key, its OpenSSL context made once: fetching the
// algorithm per message (OpenSSL 3's one-shot HMAC()) cost 10 us of the 11
// an overlay signature took.
class HmacSha256 {
 public:
  explicit HmacSha256(const std::string& key);
  ~HmacSha256();
  HmacSha256(const HmacSha256&) = delete;
  HmacSha256& operator=(const HmacSha256&) = delete;
  // The MAC's hex, or its first `bytes` bytes; "" if OpenSSL fails.
  std::string hex(std::string_view data, std::size_t bytes = 32);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace sippeer::adaptor
