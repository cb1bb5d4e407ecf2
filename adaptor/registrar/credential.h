// A user's credential (issue 13, report 5.2): what the ring stores so that
// any node can check a digest response, and never the password.
//
// It travels and is stored as one record value (dht::RecordKind::Credential,
// header P2P-Credential), a list of name=value pairs:
//
//   user=alice;realm=example.com;md5=<32 hex>;sha256=<64 hex>
//
// md5 and sha256 are HA1 = H(user ":" realm ":" password) for RFC 2617 and
// RFC 7616 / RFC 8760 phones. Values are percent-escaped where they hold
// ';', '=', '%' or anything outside printable ASCII.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "adaptor/registrar/digest.h"

namespace sippeer::adaptor {

struct Credential {
  std::string user;
  std::string realm;
  std::string md5;     // HA1, lower-case hex
  std::string sha256;  // HA1, lower-case hex

  // From a password: both HA1s.
  static Credential from_password(std::string user, std::string realm, std::string_view password);
  const std::string& ha1(digest::Algorithm a) const { return a == digest::Algorithm::Sha256 ? sha256 : md5; }
  friend bool operator==(const Credential&, const Credential&) = default;
};

// The version of a credential written now (an operator's change, a
// sign-up): microseconds of the wall clock, so a later change wins
// whichever node made it, and a registrar's daily renewal (version + 1)
// never overtakes a change made after it.
std::uint64_t credential_version_now();

std::string encode_credential(const Credential& c);
// nullopt unless user, realm and at least one well-formed HA1 are present.
std::optional<Credential> parse_credential(std::string_view value);

// The user and realm a credential for `aor` ("sip:alice@example.com:5070")
// has: the user part, and the host without its port (report 5.2: "the
// domain part of the user identifier as the digest realm"), unless
// `realm_setting` (auth.realm) names one realm for every user.
struct AorParts {
  std::string user;
  std::string realm;
};
std::optional<AorParts> aor_parts(std::string_view aor, std::string_view realm_setting = {});

}  // namespace sippeer::adaptor
