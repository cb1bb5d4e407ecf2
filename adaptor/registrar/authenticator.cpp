#include "adaptor/registrar/authenticator.h"

namespace sippeer::adaptor {

const char* auth_verdict_name(AuthVerdict v) {
  switch (v) {
    case AuthVerdict::Ok: return "ok";
    case AuthVerdict::Challenge: return "challenge";
    case AuthVerdict::Forbidden: return "forbidden";
    case AuthVerdict::Blocked: return "blocked";
  }
  return "?";
}

Authenticator::Authenticator(const std::string& nonce_key, AuthPolicy policy)
    : policy_(policy),
      nonces_(nonce_key, policy.nonce_lifetime_s),
      by_source_(policy.max_failures, policy.failure_window_s),
      by_aor_(policy.max_failures, policy.failure_window_s) {}

AuthOutcome Authenticator::challenge(std::string_view realm, std::int64_t now_s, bool stale) {
  AuthOutcome out;
  out.verdict = AuthVerdict::Challenge;
  const std::string nonce = nonces_.make(now_s);
  for (digest::Algorithm a : policy_.algorithms) out.challenges.push_back(digest::challenge(a, realm, nonce, stale));
  return out;
}

AuthOutcome Authenticator::refuse(const AuthQuestion& q, std::int64_t now_s, std::string why) {
  AuthOutcome out;
  out.verdict = AuthVerdict::Forbidden;
  out.why = std::move(why);
  // Both limits count every failure: one source trying many users, and
  // many sources trying one user, are each stopped.
  const bool src = by_source_.fail(std::string(q.source), now_s);
  const bool aor = by_aor_.fail(std::string(q.aor), now_s);
  out.newly_blocked = src || aor;
  ++counters_.forbidden;
  return out;
}

AuthOutcome Authenticator::check(const AuthQuestion& q, const std::optional<Credential>& credential,
                                 std::int64_t now_s) {
  if (by_source_.blocked(std::string(q.source), now_s) || by_aor_.blocked(std::string(q.aor), now_s)) {
    ++counters_.blocked;
    AuthOutcome out;
    out.verdict = AuthVerdict::Blocked;
    out.why = "too many failed attempts";
    return out;
  }
  // A phone may answer several challenges (proxies on the way, both
  // algorithms): the value for our realm is ours; SHA-256 if it sent both.
  std::optional<digest::Credentials> mine;
  for (const auto& v : q.authorizations) {
    auto c = digest::parse_credentials(v);
    if (!c || c->realm != q.realm) continue;
    if (!mine || c->algorithm == digest::Algorithm::Sha256) mine = std::move(c);
  }
  if (!mine) {
    ++counters_.challenged;
    AuthOutcome out = challenge(q.realm, now_s);
    out.why = "no credentials for realm";
    return out;
  }
  switch (nonces_.check(mine->nonce, now_s)) {
    case digest::Nonces::Check::Ok: break;
    case digest::Nonces::Check::Stale: {
      // The password was right or wrong; the phone retries without asking.
      ++counters_.challenged;
      AuthOutcome out = challenge(q.realm, now_s, /*stale=*/true);
      out.why = "stale nonce";
      return out;
    }
    case digest::Nonces::Check::Bad: {
      // Not ours: another node's key (no overlay.secret) or our own from
      // before a restart. Not counted as a failure: the phone did nothing wrong.
      ++counters_.challenged;
      AuthOutcome out = challenge(q.realm, now_s);
      out.why = "nonce not made here";
      return out;
    }
  }
  if (!credential) return refuse(q, now_s, "no such user");
  if (mine->username != credential->user) return refuse(q, now_s, "username does not match the AOR");
  const std::string& ha1 = credential->ha1(mine->algorithm);
  if (ha1.empty()) return refuse(q, now_s, "no HA1 for the algorithm");
  if (!digest::response_matches(*mine, q.method, ha1)) return refuse(q, now_s, "wrong password");
  if (!mine->qop.empty() && !counts_.advance(mine->nonce, mine->nc, q.request_id))
    return refuse(q, now_s, "nonce count replayed");
  by_source_.succeed(std::string(q.source));
  by_aor_.succeed(std::string(q.aor));
  ++counters_.ok;
  AuthOutcome out;
  out.verdict = AuthVerdict::Ok;
  return out;
}

}  // namespace sippeer::adaptor
