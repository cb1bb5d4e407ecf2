#include "adaptor/admin/admin_guard.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace sippeer::adaptor {

namespace {

std::string_view host_part(std::string_view host) {
  if (!host.empty() && host.front() == '[') {  // [::1]:8060
    const auto end = host.find(']');
    return end == std::string_view::npos ? host : host.substr(1, end - 1);
  }
  const auto colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

bool is_ip_literal(std::string_view h) {
  const std::string s(h);
  in6_addr a6{};
  in_addr a4{};
  return inet_pton(AF_INET, s.c_str(), &a4) == 1 || inet_pton(AF_INET6, s.c_str(), &a6) == 1;
}

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

}  // namespace

AdminVerdict check_admin_request(const AdminRequest& r, std::string_view token) {
  const std::string_view host = host_part(r.host);
  if (!r.host.empty() && !is_ip_literal(host) && !iequal(host, "localhost"))
    return {403, "Host '" + std::string(r.host) + "' is not this API's address (DNS rebinding?)"};
  if (!r.origin.empty()) {
    // Same origin is http://<Host>; anything else is another site's page.
    const std::string own = "http://" + std::string(r.host);
    if (r.host.empty() || !iequal(r.origin, own))
      return {403, "cross-origin request from " + std::string(r.origin) + " refused"};
  }
  if (iequal(r.sec_fetch_site, "cross-site") || iequal(r.sec_fetch_site, "same-site"))
    return {403, "cross-origin request (Sec-Fetch-Site: " + std::string(r.sec_fetch_site) + ") refused"};
  if (!r.post) return {};
  constexpr std::string_view kBearer = "Bearer ";
  if (r.authorization.empty()) return {401, "this needs the admin token (Authorization: Bearer ...)"};
  if (r.authorization.size() < kBearer.size() || !iequal(r.authorization.substr(0, kBearer.size()), kBearer))
    return {401, "the admin token goes in Authorization: Bearer ..."};
  const std::string_view given = r.authorization.substr(kBearer.size());
  if (token.empty() || given.size() != token.size() || CRYPTO_memcmp(given.data(), token.data(), token.size()) != 0)
    return {403, "wrong admin token"};
  return {};
}

std::string read_admin_token(const std::string& configured, const std::string& state_dir) {
  if (!configured.empty()) return configured;
  std::ifstream in(std::filesystem::path(state_dir) / "admin.token");
  std::string t;
  std::getline(in, t);
  while (!t.empty() && (t.back() == '\r' || t.back() == ' ')) t.pop_back();
  return t;
}

std::string admin_token(const std::string& configured, const std::string& state_dir, std::string* err) {
  if (!configured.empty()) return configured;
  if (std::string t = read_admin_token("", state_dir); !t.empty()) return t;
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) return *err = "cannot generate the admin token: no randomness", "";
  static const char* d = "0123456789abcdef";
  std::string t;
  for (unsigned char b : raw) {
    t += d[b >> 4];
    t += d[b & 15];
  }
  std::error_code ec;
  const std::filesystem::path dir(state_dir);
  std::filesystem::create_directories(dir, ec);
  const std::filesystem::path path = dir / "admin.token";
  const mode_t old = ::umask(077);  // 0600 from the start, never readable by others
  {
    std::ofstream out(path.string() + ".tmp", std::ios::trunc);
    out << t << "\n";
    if (!out) {
      ::umask(old);
      return *err = "cannot write the admin token to " + path.string() + ": " + std::strerror(errno), "";
    }
  }
  ::umask(old);
  std::filesystem::rename(path.string() + ".tmp", path, ec);
  if (ec) return *err = "cannot write the admin token to " + path.string() + ": " + ec.message(), "";
  return t;
}

}  // namespace sippeer::adaptor
