// Overlay admission (issue 14): only nodes that hold the ring's pre-shared
// secret (overlay.secret) take part in the ring.
//
// Every overlay REGISTER a node sends carries a header of ours,
//
//   P2P-Auth: ts=1796444499;nonce=5f0c1a2b3c4d5e6f-17;mac=<64 hex>
//
// where mac = HMAC-SHA256(secret, canonical request + ts + nonce). The
// canonical request (request_mac_input) is the method and Request-URI, then
// From, To, Call-ID, CSeq, Contact, Expires, Reason, Content-Type and every
// P2P- header but P2P-Auth, and the body. Via and Max-Forwards are left
// out: nta puts its Via on top after we sign, and a node that relays a
// request hop by hop signs it again (it holds the secret too).
//
// A receiver refuses (403) a request whose header is missing or malformed,
// whose MAC matches neither overlay.secret nor overlay.previous_secret (the
// old key during a rotation), whose ts is further than the window from its
// own clock, or whose nonce it has seen before in another request. The
// same nonce with the same MAC and the same top Via branch is a UDP
// retransmission (RFC 3261 17.1.2.1) of a request we answered statelessly:
// it is processed again, as every stateless overlay answer is idempotent (a
// Transfer of a version we hold changes nothing). So an attacker who
// captures a signed request can, within the window, only make us answer
// it once more.
//
// Answers are signed too (P2P-Auth: mac=...), over the status, Call-ID,
// CSeq, Contact, Expires and P2P- headers, the body if there is one (a List
// answer's records), and the nonce of the request they answer, so an answer cannot be forged by someone who saw the request, nor
// replayed to another one. A 302 to multicast discovery is such an answer:
// a stranger cannot lure a new node into a ring of its own.
//
// Pure logic over message text and a caller's clock (unix seconds), so the
// unit tests need no network; dht/ never sees any of it.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "adaptor/sip/crypto.h"

namespace sippeer::adaptor {

enum class MacCheck {
  Ok,
  Retransmission,  // an exact copy of a request already accepted
  Missing,         // no P2P-Auth header
  Malformed,       // P2P-Auth without ts, nonce or mac
  BadMac,          // signed with another key, or altered on the way
  Stale,           // ts outside the window
  Replayed,        // the nonce was seen with another MAC
};
const char* mac_check_name(MacCheck c);
inline bool mac_ok(MacCheck c) { return c == MacCheck::Ok || c == MacCheck::Retransmission; }

inline constexpr const char* kAuthHeader = "P2P-Auth";

// The canonical texts the MACs cover (see the top of this file). Public for
// the unit tests.
std::string request_mac_input(std::string_view message_text);
// `header_text` is the answer's text (its body is read from it), or just
// its header lines, with `body` beside them. No body adds nothing, so
// answers without one sign as they always have.
std::string response_mac_input(int status, std::string_view call_id, std::uint32_t cseq,
                               std::string_view header_text, std::string_view request_nonce,
                               std::string_view body = {});

// The value of the P2P-Auth header in a message's text ("" if none).
std::string auth_header_value(std::string_view message_text);
// One parameter of a P2P-Auth value ("nonce", "ts", "mac"); "" if absent.
std::string auth_param(std::string_view value, std::string_view name);

class OverlayAuth {
 public:
  struct Counters {
    std::uint64_t signed_messages = 0;
    std::uint64_t accepted = 0;
    std::uint64_t retransmissions = 0;
    std::uint64_t refused[7] = {};  // by MacCheck
    std::uint64_t nonces_evicted = 0;  // the replay table was full
  };

  // Empty `secret` switches admission off: nothing is signed or checked.
  OverlayAuth(std::string secret, std::string previous_secret, int window_s,
              std::size_t max_nonces = 200'000);

  bool enabled() const { return !secret_.empty(); }

  // The text with a P2P-Auth header added before its blank line (any old
  // one removed). The request's nonce goes to *nonce, for its answer.
  std::string sign_request(std::string text, std::int64_t unix_now, std::string* nonce = nullptr);
  // A P2P-Auth header value for a request already built, signing `text`.
  std::string request_stamp(std::string_view text, std::int64_t unix_now, std::string* nonce = nullptr);
  MacCheck check_request(std::string_view text, std::int64_t unix_now, std::string* nonce = nullptr);

  // "P2P-Auth: mac=...\r\n" to add to an answer whose extension headers
  // are `header_text` and whose body is `body`.
  std::string response_header(int status, std::string_view call_id, std::uint32_t cseq,
                              std::string_view header_text, std::string_view request_nonce,
                              std::string_view body = {});
  MacCheck check_response(int status, std::string_view call_id, std::uint32_t cseq,
                          std::string_view response_text, std::string_view request_nonce);

  const Counters& counters() const { return counters_; }
  std::size_t remembered_nonces() const { return nonces_.size(); }

 private:
  bool mac_matches(std::string_view input, std::string_view mac_hex);
  void forget_before(std::int64_t t);
  MacCheck refuse(MacCheck c);

  std::string secret_;
  std::string previous_;
  std::unique_ptr<HmacSha256> current_mac_, previous_mac_;
  std::int64_t window_s_;
  std::size_t max_nonces_;
  std::string nonce_prefix_;  // random per process: nonces never repeat across restarts
  std::uint64_t next_nonce_ = 1;
  // Nonces seen, with their MAC and top Via branch, oldest first; forgotten once their ts is
  // out of the window (a replay of them is refused as Stale by then).
  std::unordered_map<std::string, std::string> nonces_;
  std::deque<std::pair<std::int64_t, std::string>> nonce_order_;
  Counters counters_;
};

}  // namespace sippeer::adaptor
