// MD5() and SHA256() are deprecated in OpenSSL 3; see hash_hex.
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "adaptor/registrar/digest.h"

#include <openssl/rand.h>

#include <openssl/crypto.h>
#include <openssl/md5.h>
#include <openssl/sha.h>

#include <cctype>
#include <cstring>
#include <cstdio>

#include "adaptor/sip/crypto.h"
#include "dht/sip_text.h"

namespace sippeer::adaptor::digest {

namespace text = dht::text;

namespace {

// One name=value of a Digest parameter list, value unquoted; advances pos.
bool next_param(std::string_view s, std::size_t& pos, std::string& name, std::string& value) {
  while (pos < s.size() && (text::is_ws(s[pos]) || s[pos] == ',')) ++pos;
  if (pos >= s.size()) return false;
  const std::size_t eq = s.find('=', pos);
  if (eq == std::string_view::npos) return false;
  name.clear();
  text::append_lower(name, text::trim(s.substr(pos, eq - pos)));
  pos = eq + 1;
  while (pos < s.size() && text::is_ws(s[pos])) ++pos;
  value.clear();
  if (pos < s.size() && s[pos] == '"') {
    // Copied a run at a time, up to the closing quote or a quoted-pair.
    for (++pos;;) {
      std::size_t run = pos;  // (find_first_of would call memchr per character)
      while (run < s.size() && s[run] != '"' && s[run] != '\\') ++run;
      if (run == s.size()) return false;  // never closed
      value.append(s.data() + pos, run - pos);
      if (s[run] == '"') {
        pos = run + 1;
        break;
      }
      if (run + 1 >= s.size()) return false;  // a backslash last: never closed
      value += s[run + 1];  // quoted-pair
      pos = run + 2;
    }
  } else {
    const std::size_t end = s.find(',', pos);
    value = std::string(text::trim(s.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos)));
    pos = end == std::string_view::npos ? s.size() : end;
  }
  return !name.empty();
}

}  // namespace

const char* algorithm_name(Algorithm a) { return a == Algorithm::Sha256 ? "SHA-256" : "MD5"; }

std::optional<Algorithm> parse_algorithm(std::string_view s) {
  if (s.empty() || text::iequals(s, "MD5")) return Algorithm::Md5;
  if (text::iequals(s, "SHA-256")) return Algorithm::Sha256;
  return std::nullopt;  // MD5-sess, SHA-512-256, ...: not offered, not accepted
}

// OpenSSL's one-shot MD5() and SHA256() rather than EVP_Digest: the EVP
// path allocates and frees a context and a provider context per digest,
// a few thousand instructions on top of hashing a digest's short strings,
// and every check computes two (HA2, then the response). Deprecated in
// OpenSSL 3, kept in Debian's build; digest_test.cpp holds RFC 2617's and
// RFC 7616's vectors.
std::string hash_hex(Algorithm a, std::string_view data) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  if (a == Algorithm::Sha256) {
    unsigned char out[SHA256_DIGEST_LENGTH];
    SHA256(bytes, data.size(), out);
    return hex_of(out, sizeof out);
  }
  unsigned char out[MD5_DIGEST_LENGTH];
  MD5(bytes, data.size(), out);
  return hex_of(out, sizeof out);
}

std::string ha1(Algorithm a, std::string_view user, std::string_view realm, std::string_view password) {
  std::string s;
  s.reserve(user.size() + realm.size() + password.size() + 2);
  s.append(user).append(":").append(realm).append(":").append(password);
  return hash_hex(a, s);
}

std::optional<Credentials> parse_credentials(std::string_view v) {
  v = text::trim(v);
  if (v.size() < 7 || !text::iequals(v.substr(0, 6), "Digest") || !text::is_ws(v[6])) return std::nullopt;
  Credentials c;
  std::size_t pos = 7;
  std::string name, value;
  bool any = false;
  while (pos < v.size()) {
    const std::size_t before = pos;
    if (!next_param(v, pos, name, value)) {
      if (text::trim(v.substr(before)).empty()) break;
      return std::nullopt;
    }
    any = true;
    if (name == "username") c.username = value;
    else if (name == "realm") c.realm = value;
    else if (name == "nonce") c.nonce = value;
    else if (name == "uri") c.uri = value;
    else if (name == "response") c.response = value;
    else if (name == "cnonce") c.cnonce = value;
    else if (name == "nc") c.nc = value;
    else if (name == "qop") c.qop = value;
    else if (name == "opaque") c.opaque = value;
    else if (name == "algorithm") {
      auto a = parse_algorithm(value);
      if (!a) return std::nullopt;
      c.algorithm = *a;
    }
  }
  if (!any || c.username.empty() || c.nonce.empty() || c.response.empty()) return std::nullopt;
  return c;
}

std::string expected_response(const Credentials& c, std::string_view method, std::string_view ha1_hex) {
  const std::string ha2 = hash_hex(c.algorithm, std::string(method) + ":" + c.uri);
  std::string s(ha1_hex);
  if (c.qop.empty()) {
    s += ":" + c.nonce + ":" + ha2;  // RFC 2069, as old phones still send
  } else if (text::iequals(c.qop, "auth")) {
    s += ":" + c.nonce + ":" + c.nc + ":" + c.cnonce + ":" + c.qop + ":" + ha2;
  } else {
    return {};  // auth-int: not offered
  }
  return hash_hex(c.algorithm, s);
}

bool response_matches(const Credentials& c, std::string_view method, std::string_view ha1_hex) {
  const std::string want = expected_response(c, method, ha1_hex);
  std::string got;
  text::append_lower(got, c.response);
  return !want.empty() && got.size() == want.size() && CRYPTO_memcmp(got.data(), want.data(), want.size()) == 0;
}

std::string challenge(Algorithm a, std::string_view realm, std::string_view nonce, bool stale) {
  std::string s = "Digest realm=\"" + std::string(realm) + "\", nonce=\"" + std::string(nonce) +
                  "\", qop=\"auth\", algorithm=" + algorithm_name(a);
  if (stale) s += ", stale=true";
  return s;
}

Nonces::Nonces(const std::string& secret, std::int64_t lifetime_s)
    : mac_(std::make_unique<HmacSha256>(secret)), lifetime_s_(lifetime_s) {
  // Nodes of a ring share the key: a random start keeps their nonces apart.
  RAND_bytes(reinterpret_cast<unsigned char*>(&serial_), sizeof serial_);
  serial_ >>= 8;
}

Nonces::~Nonces() = default;

std::string Nonces::tag(std::string_view stamp) const { return mac_->hex(stamp, 8); }

std::string Nonces::make(std::int64_t now_s) {
  // A counter keeps two nonces of one second apart: each has its own
  // nonce counts (NonceCounts), so two phones challenged in the same
  // second must not share one.
  char stamp[40];
  std::snprintf(stamp, sizeof stamp, "%llx.%llx", static_cast<unsigned long long>(now_s),
                static_cast<unsigned long long>(++serial_));
  return std::string(stamp) + "." + tag(stamp);
}

Nonces::Check Nonces::check(std::string_view nonce, std::int64_t now_s) const {
  const std::size_t dot = nonce.find('.');
  const std::size_t last = nonce.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot > 16 || last == dot || last - dot > 17) return Check::Bad;
  std::uint64_t ts = 0;
  for (char ch : nonce.substr(0, dot)) {
    if (!std::isxdigit(static_cast<unsigned char>(ch))) return Check::Bad;
    ts = ts * 16 + static_cast<std::uint64_t>(std::isdigit(static_cast<unsigned char>(ch)) ? ch - '0'
                                                                                          : (std::tolower(ch) - 'a' + 10));
  }
  const std::string want = tag(nonce.substr(0, last));
  const std::string_view got = nonce.substr(last + 1);
  if (want.empty() || got.size() != want.size() || CRYPTO_memcmp(got.data(), want.data(), want.size()) != 0)
    return Check::Bad;
  const auto t = static_cast<std::int64_t>(ts);
  if (t > now_s + 60) return Check::Bad;  // made in the future: not by us
  return now_s - t > lifetime_s_ ? Check::Stale : Check::Ok;
}

bool NonceCounts::advance(const std::string& nonce, std::string_view nc, std::string_view request) {
  if (nc.empty() || nc.size() > 8) return false;
  std::uint64_t n = 0;
  for (char ch : nc) {
    if (!std::isxdigit(static_cast<unsigned char>(ch))) return false;
    n = n * 16 + static_cast<std::uint64_t>(std::isdigit(static_cast<unsigned char>(ch)) ? ch - '0'
                                                                                        : (std::tolower(ch) - 'a' + 10));
  }
  auto it = map_.find(nonce);
  if (it != map_.end()) {
    Seen& seen = it->second;
    if (n == seen.nc && !request.empty() && request == seen.request) return true;
    if (n <= seen.nc) return false;
    seen.nc = n;
    seen.request = std::string(request);
    order_.splice(order_.begin(), order_, seen.at);
    return true;
  }
  if (map_.size() >= capacity_ && !order_.empty()) {
    map_.erase(order_.back());
    order_.pop_back();
  }
  order_.push_front(nonce);
  map_.emplace(nonce, Seen{n, std::string(request), order_.begin()});
  return true;
}

bool FailureLimiter::fail(const std::string& key, std::int64_t now_s) {
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= capacity_) {
      // Forget whoever's window ended; failing that, the first one found.
      for (auto e = entries_.begin(); e != entries_.end();)
        e = now_s - e->second.since > window_s_ ? entries_.erase(e) : std::next(e);
      if (entries_.size() >= capacity_) entries_.erase(entries_.begin());
    }
    it = entries_.emplace(key, Entry{0, now_s}).first;
  }
  Entry& e = it->second;
  if (now_s - e.since > window_s_) e = Entry{0, now_s};
  ++e.count;
  return e.count == limit_;
}

bool FailureLimiter::blocked(const std::string& key, std::int64_t now_s) const {
  auto it = entries_.find(key);
  return it != entries_.end() && it->second.count >= limit_ && now_s - it->second.since <= window_s_;
}

}  // namespace sippeer::adaptor::digest
