// HTTP Digest for SIP (RFC 3261 22, RFC 2617, RFC 7616 / RFC 8760
// SHA-256), as the registrar and the edge node will challenge phones
// (issue 13). Pure: strings in, strings out, a caller's clock; no Sofia,
// so every rule is a unit test (tests/unit/digest_test.cpp).
//
//   nonces      stateless: "<ts hex>.<serial hex>.<HMAC-SHA256(key, ts.serial)[0..16]>",
//               so any node holding the secret can check one, and none
//               keeps a table of the nonces it gave out. Too old: stale
//               (the phone retries with the password it has, no prompt).
//   nonce count a bounded table of the highest nc seen per nonce refuses
//               an Authorization replayed with an nc already used.
//   failures    a bounded table per key (a source address, an AOR) of
//               failed attempts in a window: past the limit, the caller
//               answers 403 and says so once.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sippeer::adaptor {
class HmacSha256;
}

namespace sippeer::adaptor::digest {

enum class Algorithm { Md5, Sha256 };
const char* algorithm_name(Algorithm a);  // "MD5", "SHA-256"
std::optional<Algorithm> parse_algorithm(std::string_view s);  // absent = MD5 (RFC 2617)

// Lower-case hex of MD5 or SHA-256 of `data`.
std::string hash_hex(Algorithm a, std::string_view data);
// H(user ":" realm ":" password): what a credential record stores, never
// the password.
std::string ha1(Algorithm a, std::string_view user, std::string_view realm, std::string_view password);

// The parameters of an Authorization / Proxy-Authorization value
// ("Digest username=..., realm=..., ..."). nullopt when it is not Digest
// or a parameter is malformed.
struct Credentials {
  std::string username, realm, nonce, uri, response, cnonce, nc, qop, opaque;
  Algorithm algorithm = Algorithm::Md5;
};
std::optional<Credentials> parse_credentials(std::string_view header_value);

// The response a phone that knows the password sends (qop=auth, or none
// as RFC 2069 phones do).
std::string expected_response(const Credentials& c, std::string_view method, std::string_view ha1_hex);
// Constant time: true when c.response is the expected one.
bool response_matches(const Credentials& c, std::string_view method, std::string_view ha1_hex);

// WWW-Authenticate / Proxy-Authenticate value for one algorithm.
std::string challenge(Algorithm a, std::string_view realm, std::string_view nonce, bool stale);

class Nonces {
 public:
  enum class Check { Ok, Stale, Bad };
  // `secret`: the node's (or the ring's) key; `lifetime_s`: how long a
  // nonce stays fresh.
  Nonces(const std::string& secret, std::int64_t lifetime_s);
  ~Nonces();
  std::string make(std::int64_t now_s);
  Check check(std::string_view nonce, std::int64_t now_s) const;

 private:
  std::string tag(std::string_view stamp) const;
  std::uint64_t serial_ = 0;
  std::unique_ptr<HmacSha256> mac_;  // its context changes per use, not its key
  std::int64_t lifetime_s_;
};

// The highest nonce count seen per nonce, for at most `capacity` nonces
// (least recently used forgotten first; a forgotten nonce's next use is
// accepted once more, which the nonce lifetime bounds).
class NonceCounts {
 public:
  explicit NonceCounts(std::size_t capacity = 100'000) : capacity_(capacity) {}
  // True when `nc` (8 hex digits) is above every count seen with `nonce`;
  // it is then remembered. False for a replay or a malformed count. The
  // highest count again with the same `request` (Call-ID and CSeq) is a
  // retransmission whose answer was lost, not a replay: true.
  bool advance(const std::string& nonce, std::string_view nc, std::string_view request = {});
  std::size_t size() const { return map_.size(); }

 private:
  std::size_t capacity_;
  std::list<std::string> order_;  // most recent first
  struct Seen {
    std::uint64_t nc;
    std::string request;
    std::list<std::string>::iterator at;
  };
  std::unordered_map<std::string, Seen> map_;
};

// Failed attempts per key in a sliding window: after `limit` failures
// within `window_s`, blocked() is true until the window passes. Bounded:
// past `capacity` keys the oldest are forgotten.
class FailureLimiter {
 public:
  FailureLimiter(int limit, std::int64_t window_s, std::size_t capacity = 65'536)
      : limit_(limit), window_s_(window_s), capacity_(capacity) {}
  // Counts a failure; true when this one reached the limit (log it once).
  bool fail(const std::string& key, std::int64_t now_s);
  bool blocked(const std::string& key, std::int64_t now_s) const;
  void succeed(const std::string& key) { entries_.erase(key); }
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    int count = 0;
    std::int64_t since = 0;  // start of the current window
  };
  int limit_;
  std::int64_t window_s_;
  std::size_t capacity_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace sippeer::adaptor::digest
