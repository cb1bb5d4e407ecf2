// Digest authentication of phones (issue 13, RFC 3261 22): one decision per
// request, from the request's Authorization values and the user's
// credential, with no Sofia and no clock of its own, so every rule is a
// unit test (tests/unit/authenticator_test.cpp).
//
// The AOR's registrar asks it for a REGISTER (401, WWW-Authenticate); the
// phone's edge node for an out-of-dialog request (407, Proxy-Authenticate).
//
//   no matching Authorization, or a nonce we did not make  -> Challenge
//   our nonce, but older than auth.nonce_lifetime_s        -> Challenge, stale=true
//   no credential, wrong user, wrong password              -> Forbidden, counted
//   qop=auth with a nonce count already used               -> Forbidden (replay)
//   auth.max_failures failures in auth.failure_window_s
//   from one source address or for one AOR                 -> Blocked until the window ends
//
// Nonces are keyed by overlay.secret when the ring has one, so a nonce made
// by one node is good at another (the registrar moved, the edge changed);
// else by a random key of this process.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adaptor/registrar/credential.h"
#include "adaptor/registrar/digest.h"

namespace sippeer::adaptor {

struct AuthPolicy {
  std::int64_t nonce_lifetime_s = 300;
  int max_failures = 10;
  std::int64_t failure_window_s = 60;
  // Challenges offered, in this order (auth.algorithms).
  std::vector<digest::Algorithm> algorithms = {digest::Algorithm::Md5, digest::Algorithm::Sha256};  // tests; the daemon sets auth.algorithms
};

enum class AuthVerdict { Ok, Challenge, Forbidden, Blocked };
const char* auth_verdict_name(AuthVerdict v);

struct AuthQuestion {
  std::string_view method;                  // "REGISTER", "INVITE", ...
  std::vector<std::string> authorizations;  // the Authorization or Proxy-Authorization values
  std::string_view realm;                   // the realm the request is checked in
  std::string_view aor;                     // the identity it claims: To of a REGISTER, else From
  std::string_view source;                  // the sender's IP address, for the per-source limit
  std::string_view request_id;              // Call-ID and CSeq: a retransmission is no replay
};

struct AuthOutcome {
  AuthVerdict verdict = AuthVerdict::Challenge;
  std::vector<std::string> challenges;  // header values, in AuthPolicy::algorithms order, for a Challenge
  std::string why;                      // for the log: "wrong password", "stale nonce" ...
  bool newly_blocked = false;           // this failure reached the limit: log it once
};

class Authenticator {
 public:
  Authenticator(const std::string& nonce_key, AuthPolicy policy);

  // `credential` is the AOR's, if the ring has one.
  AuthOutcome check(const AuthQuestion& q, const std::optional<Credential>& credential, std::int64_t now_s);
  // A fresh challenge, without looking at the request (a caller that
  // refuses before it can ask, e.g. the credential lookup failed).
  AuthOutcome challenge(std::string_view realm, std::int64_t now_s, bool stale = false);

  struct Counters {
    std::uint64_t ok = 0, challenged = 0, forbidden = 0, blocked = 0;
  };
  const Counters& counters() const { return counters_; }
  const AuthPolicy& policy() const { return policy_; }
  // SIGHUP: auth.algorithms is live.
  void set_algorithms(std::vector<digest::Algorithm> a) { policy_.algorithms = std::move(a); }

 private:
  AuthOutcome refuse(const AuthQuestion& q, std::int64_t now_s, std::string why);

  AuthPolicy policy_;
  digest::Nonces nonces_;
  digest::NonceCounts counts_;
  digest::FailureLimiter by_source_;
  digest::FailureLimiter by_aor_;
  Counters counters_;
};

}  // namespace sippeer::adaptor
