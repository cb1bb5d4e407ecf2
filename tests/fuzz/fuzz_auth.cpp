// libFuzzer: what strangers send to be believed (issue 13, issue 14):
// Authorization values through digest parsing and the Authenticator,
// credential record values, and overlay text through P2P-Auth's check.
#include <cstdint>
#include <string>

#include "adaptor/node/overlay_auth.h"
#include "adaptor/registrar/authenticator.h"
#include "adaptor/registrar/credential.h"

using namespace sippeer::adaptor;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Authenticator auth("fuzz key", AuthPolicy{});
  static OverlayAuth overlay("fuzz ring key", "", 30, 1000);
  static const std::optional<Credential> alice = Credential::from_password("alice", "example.com", "pw");
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)digest::parse_credentials(text);
  (void)parse_credential(text);
  (void)aor_parts(text);
  AuthQuestion q;
  q.method = "REGISTER";
  q.authorizations = {text, "Digest " + text};
  q.realm = "example.com";
  q.aor = "sip:alice@example.com";
  q.source = "10.0.0.1";
  q.request_id = "x 1 REGISTER";
  (void)auth.check(q, alice, 1'800'000'000);
  std::string nonce;
  (void)overlay.check_request(text, 1'800'000'000, &nonce);
  (void)request_mac_input(text);
  (void)auth_param(auth_header_value(text), "nonce");
  return 0;
}
