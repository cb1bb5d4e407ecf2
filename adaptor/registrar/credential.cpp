#include "adaptor/registrar/credential.h"

#include <algorithm>
#include <chrono>

namespace sippeer::adaptor {

namespace {

bool plain(unsigned char ch) { return ch > 0x20 && ch < 0x7f && ch != ';' && ch != '=' && ch != '%'; }

std::string escape(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : s) {
    if (plain(ch)) {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += kHex[ch >> 4];
      out += kHex[ch & 15];
    }
  }
  return out;
}

int hex_digit(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

std::optional<std::string> unescape(std::string_view s) {
  // Every REGISTER of a signed-in phone parses its credential: the common
  // value has nothing escaped and is copied whole.
  if (s.find('%') == std::string_view::npos) return std::string(s);
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    const int hi = hex_digit(s[i + 1]), lo = hex_digit(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

bool is_hex(std::string_view s, std::size_t size) {
  return s.size() == size && std::all_of(s.begin(), s.end(), [](char ch) { return hex_digit(ch) >= 0; });
}

}  // namespace

Credential Credential::from_password(std::string user, std::string realm, std::string_view password) {
  Credential c;
  c.md5 = digest::ha1(digest::Algorithm::Md5, user, realm, password);
  c.sha256 = digest::ha1(digest::Algorithm::Sha256, user, realm, password);
  c.user = std::move(user);
  c.realm = std::move(realm);
  return c;
}

std::uint64_t credential_version_now() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

std::string encode_credential(const Credential& c) {
  std::string out = "user=" + escape(c.user) + ";realm=" + escape(c.realm);
  if (!c.md5.empty()) out += ";md5=" + c.md5;
  if (!c.sha256.empty()) out += ";sha256=" + c.sha256;
  return out;
}

std::optional<Credential> parse_credential(std::string_view value) {
  Credential c;
  bool have_user = false, have_realm = false;
  while (!value.empty()) {
    const std::size_t semi = value.find(';');
    std::string_view pair = value.substr(0, semi);
    value = semi == std::string_view::npos ? std::string_view() : value.substr(semi + 1);
    const std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    const std::string_view name = pair.substr(0, eq);
    auto v = unescape(pair.substr(eq + 1));
    if (!v) return std::nullopt;
    if (name == "user") {
      c.user = std::move(*v);
      have_user = true;
    } else if (name == "realm") {
      c.realm = std::move(*v);
      have_realm = true;
    } else if (name == "md5") {
      if (!is_hex(*v, 32)) return std::nullopt;
      c.md5 = std::move(*v);
    } else if (name == "sha256") {
      if (!is_hex(*v, 64)) return std::nullopt;
      c.sha256 = std::move(*v);
    }
    // Unknown names are skipped: a newer node may add some.
  }
  if (!have_user || !have_realm || c.user.empty() || (c.md5.empty() && c.sha256.empty())) return std::nullopt;
  for (std::string* h : {&c.md5, &c.sha256})
    for (char& ch : *h)
      if (ch >= 'A' && ch <= 'F') ch = static_cast<char>(ch - 'A' + 'a');
  return c;
}

std::optional<AorParts> aor_parts(std::string_view aor, std::string_view realm_setting) {
  const std::size_t colon = aor.find(':');
  const std::size_t at = aor.rfind('@');
  if (colon == std::string_view::npos || at == std::string_view::npos || at <= colon + 1) return std::nullopt;
  AorParts p;
  p.user = std::string(aor.substr(colon + 1, at - colon - 1));
  std::string_view host = aor.substr(at + 1);
  if (!host.empty() && host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);
  } else if (const std::size_t port = host.rfind(':'); port != std::string_view::npos) {
    host = host.substr(0, port);
  }
  if (host.empty()) return std::nullopt;
  p.realm = realm_setting.empty() ? std::string(host) : std::string(realm_setting);
  return p;
}

}  // namespace sippeer::adaptor
