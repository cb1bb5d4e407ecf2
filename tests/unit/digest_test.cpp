// HTTP Digest for SIP (adaptor/registrar/digest.h), with the RFCs' own
// examples where they have one.
#include <gtest/gtest.h>

#include "adaptor/registrar/digest.h"

namespace sippeer::adaptor::digest {
namespace {

TEST(Digest, Rfc2617ExampleMd5) {
  // RFC 2617 3.5 (the Mufasa example).
  auto c = parse_credentials(
      "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", "
      "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", qop=auth, nc=00000001, "
      "cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\", "
      "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->username, "Mufasa");
  EXPECT_EQ(c->algorithm, Algorithm::Md5);
  const std::string h = ha1(Algorithm::Md5, "Mufasa", "testrealm@host.com", "Circle Of Life");
  EXPECT_TRUE(response_matches(*c, "GET", h));
  EXPECT_FALSE(response_matches(*c, "GET", ha1(Algorithm::Md5, "Mufasa", "testrealm@host.com", "circle of life")));
  EXPECT_FALSE(response_matches(*c, "POST", h));
}

TEST(Digest, Rfc7616ExampleSha256) {
  // RFC 7616 3.9.1, SHA-256.
  auto c = parse_credentials(
      "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", "
      "algorithm=SHA-256, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, "
      "cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, "
      "response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", "
      "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->algorithm, Algorithm::Sha256);
  EXPECT_TRUE(response_matches(*c, "GET", ha1(Algorithm::Sha256, "Mufasa", "http-auth@example.org", "Circle of Life")));
}

TEST(Digest, Rfc2069PhonesWithoutQop) {
  Credentials c;
  c.username = "1001";
  c.realm = "example.com";
  c.nonce = "abc";
  c.uri = "sip:example.com";
  const std::string h = ha1(Algorithm::Md5, "1001", "example.com", "secret");
  c.response = expected_response(c, "REGISTER", h);
  EXPECT_TRUE(response_matches(c, "REGISTER", h));
  c.qop = "auth-int";  // not offered: never matches
  EXPECT_FALSE(response_matches(c, "REGISTER", h));
}

TEST(Digest, MalformedCredentialsAreRefused) {
  EXPECT_FALSE(parse_credentials("Basic dXNlcjpwYXNz"));
  EXPECT_FALSE(parse_credentials("Digest"));
  EXPECT_FALSE(parse_credentials("Digest username=\"a\", nonce=\"n"));  // unclosed
  EXPECT_FALSE(parse_credentials("Digest username=\"a\", nonce=\"n\", response=\"r\", algorithm=MD5-sess"));
  EXPECT_FALSE(parse_credentials("Digest realm=\"x\", nonce=\"n\", response=\"r\""));  // no username
  EXPECT_TRUE(parse_credentials("digest username=a, nonce=n, response=r"));
  EXPECT_FALSE(parse_credentials("Digest username=\"a\", nonce=\"n\", response=\"r\\"));  // backslash last
  EXPECT_FALSE(parse_credentials("Digest username=\"a\", nonce=\"n\", response=\"r\\\""));  // quote escaped
}

TEST(Digest, QuotedPairsAreUnescaped) {
  // RFC 3261 25.1: quoted-pair = "\\" char, inside a quoted-string.
  auto c = parse_credentials(R"(Digest username="a\"b\\c", nonce="n", response="r", realm="x\y")");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->username, R"(a"b\c)");
  EXPECT_EQ(c->realm, "xy");
  EXPECT_EQ(c->nonce, "n");
}

TEST(Digest, ChallengeOffersQopAuthAndSaysStale) {
  EXPECT_EQ(challenge(Algorithm::Sha256, "example.com", "n1", false),
            "Digest realm=\"example.com\", nonce=\"n1\", qop=\"auth\", algorithm=SHA-256");
  EXPECT_EQ(challenge(Algorithm::Md5, "example.com", "n1", true),
            "Digest realm=\"example.com\", nonce=\"n1\", qop=\"auth\", algorithm=MD5, stale=true");
}

TEST(Digest, StatelessNoncesExpireAndCannotBeForged) {
  Nonces ours("node-secret", 300), theirs("other-secret", 300);
  const std::string n = ours.make(1'000'000);
  EXPECT_EQ(ours.check(n, 1'000'000), Nonces::Check::Ok);
  EXPECT_EQ(ours.check(n, 1'000'300), Nonces::Check::Ok);
  EXPECT_EQ(ours.check(n, 1'000'301), Nonces::Check::Stale);
  EXPECT_EQ(theirs.check(n, 1'000'000), Nonces::Check::Bad);
  std::string forged = n;
  forged[0] = forged[0] == 'f' ? 'e' : 'f';  // another time, same tag
  EXPECT_EQ(ours.check(forged, 1'000'000), Nonces::Check::Bad);
  EXPECT_EQ(ours.check("nonsense", 1'000'000), Nonces::Check::Bad);
  EXPECT_EQ(ours.check(ours.make(2'000'000), 1'000'000), Nonces::Check::Bad);  // from the future
}

TEST(Digest, NoncesOfOneSecondDiffer) {
  // Each nonce has its own nonce counts: two phones challenged in the same
  // second must not get the same one (the second's nc=1 would look replayed).
  Nonces ours("node-secret", 300);
  const std::string a = ours.make(1'000'000), b = ours.make(1'000'000);
  EXPECT_NE(a, b);
  EXPECT_EQ(ours.check(a, 1'000'000), Nonces::Check::Ok);
  EXPECT_EQ(ours.check(b, 1'000'000), Nonces::Check::Ok);
  std::string spliced = b.substr(0, b.rfind('.')) + a.substr(a.rfind('.'));
  EXPECT_EQ(ours.check(spliced, 1'000'000), Nonces::Check::Bad);
}

TEST(Digest, NonceCountsRefuseReplaysInBoundedMemory) {
  NonceCounts counts(3);
  EXPECT_TRUE(counts.advance("n1", "00000001"));
  EXPECT_FALSE(counts.advance("n1", "00000001"));  // replayed
  EXPECT_TRUE(counts.advance("n1", "00000002"));
  EXPECT_FALSE(counts.advance("n1", "zz"));
  for (int i = 0; i < 10; ++i) counts.advance("x" + std::to_string(i), "00000001");
  EXPECT_EQ(counts.size(), 3u);
}

TEST(Digest, FailuresPastTheLimitBlockUntilTheWindowEnds) {
  FailureLimiter f(3, 60);
  EXPECT_FALSE(f.fail("10.0.0.9", 100));
  EXPECT_FALSE(f.fail("10.0.0.9", 101));
  EXPECT_FALSE(f.blocked("10.0.0.9", 101));
  EXPECT_TRUE(f.fail("10.0.0.9", 102));  // the third: log it once
  EXPECT_FALSE(f.fail("10.0.0.9", 103));
  EXPECT_TRUE(f.blocked("10.0.0.9", 150));
  EXPECT_FALSE(f.blocked("10.0.0.8", 150));
  EXPECT_FALSE(f.blocked("10.0.0.9", 170));  // window over
  f.succeed("10.0.0.8");
  FailureLimiter small(1, 60, 2);
  small.fail("a", 0);
  small.fail("b", 0);
  small.fail("c", 0);
  EXPECT_LE(small.size(), 2u);
}

}  // namespace
}  // namespace sippeer::adaptor::digest
