// Digest authentication decisions (adaptor/registrar/authenticator.h), the
// credential record value (credential.h) and the edge's cache
// (credential_cache.h): every rule of issue 13's challenge without a network.
#include <gtest/gtest.h>

#include "adaptor/registrar/authenticator.h"
#include "adaptor/registrar/credential_cache.h"

namespace sippeer::adaptor {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;

std::string param(const std::string& challenge, const std::string& name) {
  const auto at = challenge.find(name + "=\"");
  if (at == std::string::npos) return {};
  const auto start = at + name.size() + 2;
  return challenge.substr(start, challenge.find('"', start) - start);
}

// What a phone that knows `password` answers to `challenge`.
std::string answer(const std::string& challenge, const std::string& method, const std::string& user,
                   const std::string& password, const std::string& nc = "00000001") {
  const bool sha = challenge.find("SHA-256") != std::string::npos;
  const digest::Algorithm a = sha ? digest::Algorithm::Sha256 : digest::Algorithm::Md5;
  digest::Credentials c;
  c.username = user;
  c.realm = param(challenge, "realm");
  c.nonce = param(challenge, "nonce");
  c.uri = "sip:example.com";
  c.qop = "auth";
  c.nc = nc;
  c.cnonce = "abc";
  c.algorithm = a;
  c.response = digest::expected_response(c, method, digest::ha1(a, user, c.realm, password));
  return "Digest username=\"" + user + "\", realm=\"" + c.realm + "\", nonce=\"" + c.nonce +
         "\", uri=\"sip:example.com\", response=\"" + c.response + "\", algorithm=" + (sha ? "SHA-256" : "MD5") +
         ", qop=auth, nc=" + nc + ", cnonce=\"abc\"";
}

class AuthenticatorTest : public ::testing::Test {
 protected:
  AuthOutcome ask(std::vector<std::string> auth, std::string_view source = "10.0.0.1",
                  std::string_view id = "call-1 1 REGISTER", std::int64_t now = kNow) {
    AuthQuestion q;
    q.method = "REGISTER";
    q.authorizations = std::move(auth);
    q.realm = "example.com";
    q.aor = "sip:alice@example.com";
    q.source = source;
    q.request_id = id;
    return auth_.check(q, alice_, now);
  }
  std::string first_challenge(bool sha = false) {
    return auth_.challenge("example.com", kNow).challenges.at(sha ? 1 : 0);  // MD5, SHA-256 by default
  }

  Authenticator auth_{"ring key", AuthPolicy{300, 3, 60}};
  std::optional<Credential> alice_ = Credential::from_password("alice", "example.com", "secret");
};

TEST_F(AuthenticatorTest, NoAuthorizationIsChallengedInTheConfiguredOrder) {
  auth_.set_algorithms({digest::Algorithm::Sha256, digest::Algorithm::Md5});
  AuthOutcome o = ask({});
  EXPECT_EQ(o.verdict, AuthVerdict::Challenge);
  ASSERT_EQ(o.challenges.size(), 2u);
  EXPECT_NE(o.challenges[0].find("algorithm=SHA-256"), std::string::npos);
  EXPECT_NE(o.challenges[1].find("algorithm=MD5"), std::string::npos);
  EXPECT_NE(o.challenges[0].find("qop=\"auth\""), std::string::npos);
  EXPECT_EQ(param(o.challenges[0], "nonce"), param(o.challenges[1], "nonce"));
}

TEST_F(AuthenticatorTest, RightPasswordPassesWithEitherAlgorithm) {
  EXPECT_EQ(ask({answer(first_challenge(false), "REGISTER", "alice", "secret")}).verdict, AuthVerdict::Ok);
  EXPECT_EQ(ask({answer(first_challenge(true), "REGISTER", "alice", "secret")}, "10.0.0.1", "call-2 1 REGISTER")
                .verdict,
            AuthVerdict::Ok);
  EXPECT_EQ(auth_.counters().ok, 2u);
}

TEST_F(AuthenticatorTest, WrongPasswordUnknownUserAndOtherUsernameAreForbidden) {
  EXPECT_EQ(ask({answer(first_challenge(), "REGISTER", "alice", "guess")}).verdict, AuthVerdict::Forbidden);
  EXPECT_EQ(ask({answer(first_challenge(), "REGISTER", "bob", "secret")}).verdict, AuthVerdict::Forbidden);
  alice_.reset();
  AuthOutcome o = ask({answer(first_challenge(), "REGISTER", "alice", "secret")});
  EXPECT_EQ(o.verdict, AuthVerdict::Forbidden);
  EXPECT_EQ(o.why, "no such user");
}

TEST_F(AuthenticatorTest, ReplayedNonceCountIsForbiddenButARetransmissionIsNot) {
  const std::string a = answer(first_challenge(), "REGISTER", "alice", "secret");
  EXPECT_EQ(ask({a}, "10.0.0.1", "call-1 7 REGISTER").verdict, AuthVerdict::Ok);
  // The same request again (its 200 was lost): the same answer.
  EXPECT_EQ(ask({a}, "10.0.0.1", "call-1 7 REGISTER").verdict, AuthVerdict::Ok);
  // The same credentials on another request: a replay.
  AuthOutcome o = ask({a}, "10.0.0.9", "evil 1 REGISTER");
  EXPECT_EQ(o.verdict, AuthVerdict::Forbidden);
  EXPECT_EQ(o.why, "nonce count replayed");
}

TEST_F(AuthenticatorTest, StaleAndForeignNoncesAreChallengedAgainWithoutCountingAFailure) {
  const std::string old = answer(first_challenge(), "REGISTER", "alice", "secret");
  AuthOutcome o = ask({old}, "10.0.0.1", "call-1 2 REGISTER", kNow + 301);
  EXPECT_EQ(o.verdict, AuthVerdict::Challenge);
  EXPECT_NE(o.challenges[0].find("stale=true"), std::string::npos);
  Authenticator other("another key", AuthPolicy{});
  AuthQuestion q;
  q.method = "REGISTER";
  q.realm = "example.com";
  q.aor = "sip:alice@example.com";
  q.source = "10.0.0.1";
  q.authorizations = {old};
  EXPECT_EQ(other.check(q, alice_, kNow).verdict, AuthVerdict::Challenge);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(ask({old}, "10.0.0.1", "x", kNow + 400).verdict, AuthVerdict::Challenge);
}

TEST_F(AuthenticatorTest, AnotherRealmsCredentialsAreIgnored) {
  std::string a = answer(first_challenge(), "REGISTER", "alice", "secret");
  a.replace(a.find("example.com"), 11, "elsewhere.org");
  EXPECT_EQ(ask({a}).verdict, AuthVerdict::Challenge);
}

TEST_F(AuthenticatorTest, FailuresPerSourceBlockEvenTheRightPasswordUntilTheWindowEnds) {
  for (int i = 0; i < 2; ++i)
    EXPECT_FALSE(ask({answer(first_challenge(), "REGISTER", "alice", "guess")}, "10.6.6.6").newly_blocked);
  AuthOutcome third = ask({answer(first_challenge(), "REGISTER", "alice", "guess")}, "10.6.6.6");
  EXPECT_TRUE(third.newly_blocked);  // said once
  EXPECT_EQ(ask({answer(first_challenge(), "REGISTER", "alice", "secret")}, "10.6.6.6").verdict,
            AuthVerdict::Blocked);
  // The AOR is blocked too (three failures for it), from anywhere.
  EXPECT_EQ(ask({answer(first_challenge(), "REGISTER", "alice", "secret")}, "10.0.0.2").verdict,
            AuthVerdict::Blocked);
  // After the window, the right password passes again.
  AuthQuestion q;
  q.method = "REGISTER";
  q.realm = "example.com";
  q.aor = "sip:alice@example.com";
  q.source = "10.6.6.6";
  q.request_id = "late 1 REGISTER";
  q.authorizations = {answer(auth_.challenge("example.com", kNow + 61).challenges[0], "REGISTER", "alice", "secret")};
  EXPECT_EQ(auth_.check(q, alice_, kNow + 61).verdict, AuthVerdict::Ok);
}

TEST(Credential, EncodesParsesAndEscapes) {
  Credential c = Credential::from_password("al;ice=1", "example.com", "pw");
  EXPECT_EQ(c.md5, digest::ha1(digest::Algorithm::Md5, "al;ice=1", "example.com", "pw"));
  const std::string v = encode_credential(c);
  EXPECT_EQ(v.find("al;"), std::string::npos);
  EXPECT_EQ(parse_credential(v), c);
  EXPECT_FALSE(parse_credential("user=alice;realm=x"));                // no hash
  EXPECT_FALSE(parse_credential("user=alice;realm=x;md5=zz"));         // not hex
  EXPECT_FALSE(parse_credential("realm=x;md5=0123456789abcdef0123456789abcdef"));  // no user
  const auto upper = parse_credential("user=a;realm=x;md5=0123456789ABCDEF0123456789abcdef;future=1");
  ASSERT_TRUE(upper);
  EXPECT_EQ(upper->md5, "0123456789abcdef0123456789abcdef");  // stored lower-case, as compared
  EXPECT_FALSE(parse_credential("user=a%4;realm=x;md5=0123456789abcdef0123456789abcdef"));  // escape cut short
}

TEST(Credential, RealmIsTheAorsHostUnlessConfigured) {
  EXPECT_EQ(aor_parts("sip:1001@192.168.1.5:5070")->realm, "192.168.1.5");
  EXPECT_EQ(aor_parts("sip:1001@192.168.1.5:5070")->user, "1001");
  EXPECT_EQ(aor_parts("sip:alice@example.com", "corp")->realm, "corp");
  EXPECT_EQ(aor_parts("sip:bob@[2001:db8::1]:5060")->realm, "[2001:db8::1]");
  EXPECT_FALSE(aor_parts("sip:example.com"));
}

TEST(CredentialCache, ExpiresDropsAndStaysBounded) {
  CredentialCache cache(2, 30);
  cache.put("a", {Credential::from_password("a", "r", "p"), 1, kNow});
  cache.put("b", {std::nullopt, 0, kNow});  // "the ring has none" is remembered too
  ASSERT_NE(cache.find("a", kNow + 29), nullptr);
  ASSERT_NE(cache.find("b", kNow + 29), nullptr);
  EXPECT_FALSE(cache.find("b", kNow + 29)->credential);
  cache.put("c", {std::nullopt, 0, kNow});  // full: a, used before b, goes
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.find("a", kNow + 1), nullptr);  // least recently used went
  EXPECT_EQ(cache.find("b", kNow + 30), nullptr);  // expired
  cache.drop("c");
  EXPECT_EQ(cache.size(), 0u);
}

}  // namespace
}  // namespace sippeer::adaptor
