// Who may change a node through the admin API (issue 14).
//
// Reading (GET) stays open to whoever reaches the admin address, which is
// loopback by default. Changing (POST /leave, and the user commands to
// come) needs the admin token, sent as "Authorization: Bearer TOKEN":
// admin.token when configured, else a random one the daemon generates into
// state_dir/admin.token (mode 0600) on first start, where `sippeer ctl`
// running as the same user finds it.
//
// A web page open in a browser on the node's host must not be able to use
// the API through the user's loopback access:
//   - a request with an Origin or "Sec-Fetch-Site: cross-site/same-site"
//     that is not the API's own origin is refused (403): a cross-origin
//     "simple" POST needs no preflight, so this is checked on every method;
//   - a Host header that names anything but an IP address or localhost is
//     refused (403): that is a DNS-rebinding page whose name now points
//     at 127.0.0.1, reading /registrations as if it were same-origin;
//   - the token is a header no cross-origin page can set without a
//     preflight, which the API never answers.
#pragma once

#include <string>
#include <string_view>

namespace sippeer::adaptor {

struct AdminRequest {
  bool post = false;
  std::string_view authorization;   // "" when absent
  std::string_view origin;
  std::string_view host;
  std::string_view sec_fetch_site;
};

struct AdminVerdict {
  int status = 200;        // 200 = go on; else 401 or 403
  std::string why;         // for the error body and the log
};

AdminVerdict check_admin_request(const AdminRequest& r, std::string_view token);

// admin.token when set; else the token in state_dir/admin.token, made
// (32 random bytes, hex) when there is none. "" and *err on failure.
std::string admin_token(const std::string& configured, const std::string& state_dir, std::string* err);
// The token `sippeer ctl` sends: configured, else the file's, else "".
std::string read_admin_token(const std::string& configured, const std::string& state_dir);

}  // namespace sippeer::adaptor
