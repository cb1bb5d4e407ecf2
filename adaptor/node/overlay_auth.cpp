#include "adaptor/node/overlay_auth.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <utility>
#include <vector>

#include "dht/sip_text.h"

namespace sippeer::adaptor {

namespace text = dht::text;

namespace {

// Compact header forms (RFC 3261 7.3.3) that may stand for ones we sign.
std::string full_name(std::string_view name) {
  std::string n;
  text::append_lower(n, text::trim(name));
  if (n.size() == 1) {
    switch (n[0]) {
      case 'f': return "from";
      case 't': return "to";
      case 'i': return "call-id";
      case 'm': return "contact";
      case 'c': return "content-type";
      case 'v': return "via";
      default: break;
    }
  }
  return n;
}

bool signed_header(const std::string& name, bool response) {
  if (name == "p2p-auth") return false;
  if (name.rfind("p2p-", 0) == 0 || name == "contact" || name == "expires") return true;
  if (response) return false;  // Call-ID and CSeq of an answer are passed apart
  return name == "from" || name == "to" || name == "call-id" || name == "cseq" || name == "reason" ||
         name == "content-type";
}

// Whitespace carries no meaning in the values we sign, and a parser that
// prints a header again may space it differently.
void append_squeezed(std::string& out, std::string_view v) {
  std::size_t i = 0;
  while (i < v.size()) {
    std::size_t j = i;
    while (j < v.size() && !text::is_ws(v[j]) && v[j] != '\r' && v[j] != '\n') ++j;
    out.append(v.data() + i, j - i);
    i = j + 1;
  }
}

struct Header {
  std::string name;        // lower case, compact forms expanded (short: no allocation)
  std::string_view value;  // as received; squeezed when written out
  std::string more;        // continuation lines, if any (rare)
};

struct Parsed {
  std::string_view first_line;
  std::vector<Header> headers;  // the signed ones only, in message order
  std::string_view body;
};

// Header lines (with continuation lines folded in) of a message or of a
// bare block of header lines.
Parsed parse(std::string_view t, bool has_first_line, bool response) {
  Parsed p;
  p.headers.reserve(12);
  std::size_t pos = 0;
  auto next_line = [&](std::string_view& line) {
    if (pos >= t.size()) return false;
    std::size_t e = t.find('\n', pos);
    if (e == std::string_view::npos) e = t.size();
    line = text::strip_cr(t.substr(pos, e - pos));
    pos = e + 1;
    return true;
  };
  std::string_view line;
  bool last_signed = false;
  if (has_first_line && next_line(line)) p.first_line = line;
  while (next_line(line)) {
    if (line.empty()) {
      p.body = pos <= t.size() ? t.substr(pos) : std::string_view{};
      break;
    }
    if (text::is_ws(line[0])) {  // continuation of the previous header
      if (last_signed) p.headers.back().more += line;
      continue;
    }
    const std::size_t colon = line.find(':');
    last_signed = false;
    if (colon == std::string_view::npos) continue;
    std::string name = full_name(line.substr(0, colon));
    if (!signed_header(name, response)) continue;
    p.headers.push_back(Header{std::move(name), line.substr(colon + 1), {}});
    last_signed = true;
  }
  return p;
}

// "name:v1,v2\n" per signed header name, names in order, values in the
// order they came: "Contact: a, b" and two Contact lines sign the same.
void append_headers(std::string& out, const Parsed& p) {
  std::vector<const Header*> h;
  h.reserve(p.headers.size());
  for (const auto& x : p.headers) h.push_back(&x);
  std::stable_sort(h.begin(), h.end(), [](const Header* a, const Header* b) { return a->name < b->name; });
  for (std::size_t i = 0; i < h.size(); ++i) {
    if (i == 0 || h[i - 1]->name != h[i]->name) {
      if (i) out += '\n';
      out += h[i]->name;
      out += ':';
    } else {
      out += ',';
    }
    append_squeezed(out, h[i]->value);
    append_squeezed(out, h[i]->more);
  }
  out += '\n';
}

}  // namespace


namespace {

// The value of the first header line named `name` (lower case, compact
// forms expanded), as it stands; "" when there is none.
std::string_view first_header(std::string_view t, std::string_view name) {
  std::size_t pos = 0;
  while (pos < t.size()) {
    std::size_t e = t.find('\n', pos);
    if (e == std::string_view::npos) e = t.size();
    const std::string_view line = text::strip_cr(t.substr(pos, e - pos));
    if (line.empty() && pos > 0) break;
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos && full_name(line.substr(0, colon)) == name)
      return text::trim(line.substr(colon + 1));
    pos = e + 1;
  }
  return {};
}

// The branch of the top Via: a retransmission keeps it, a replay sent
// anew by someone else has another (or the same request went elsewhere).
std::string top_via_branch(std::string_view t) {
  const std::string_view v = first_header(t, "via");
  const std::size_t b = v.find("branch=");
  if (b == std::string_view::npos) return {};
  const std::size_t end = v.find_first_of(";, \t", b + 7);
  return std::string(v.substr(b + 7, end == std::string_view::npos ? std::string_view::npos : end - b - 7));
}

}  // namespace

const char* mac_check_name(MacCheck c) {
  switch (c) {
    case MacCheck::Ok: return "ok";
    case MacCheck::Retransmission: return "retransmission";
    case MacCheck::Missing: return "no P2P-Auth";
    case MacCheck::Malformed: return "malformed P2P-Auth";
    case MacCheck::BadMac: return "wrong MAC";
    case MacCheck::Stale: return "timestamp outside the window";
    case MacCheck::Replayed: return "replayed nonce";
  }
  return "?";
}

std::string request_mac_input(std::string_view message_text) {
  const Parsed p = parse(message_text, true, false);
  // "REGISTER sip:host:port SIP/2.0": the method and the Request-URI.
  std::string out;
  out.reserve(message_text.size());
  const std::string_view l = p.first_line;
  const std::size_t sp = l.rfind(' ');
  append_squeezed(out, l.substr(0, sp == std::string_view::npos ? l.size() : sp));
  out += "\n";
  append_headers(out, p);
  // The body as sent, up to the end of the text (Content-Length is
  // checked by the parser before we see it).
  out += p.body;
  return out;
}

std::string response_mac_input(int status, std::string_view call_id, std::uint32_t cseq,
                               std::string_view header_text, std::string_view request_nonce,
                               std::string_view body) {
  const bool whole_message = header_text.rfind("SIP/2.0 ", 0) == 0;
  const Parsed p = parse(header_text, whole_message, true);
  std::string out = std::to_string(status) + "\n";
  append_squeezed(out, call_id);
  out += "\n" + std::to_string(cseq) + "\n";
  append_headers(out, p);
  out += request_nonce;
  if (const std::string_view b = whole_message ? p.body : body; !b.empty()) {
    out += '\n';
    out += b;
  }
  return out;
}

std::string auth_header_value(std::string_view t) { return std::string(first_header(t, "p2p-auth")); }

std::string auth_param(std::string_view value, std::string_view name) {
  std::size_t pos = 0;
  while (pos <= value.size()) {
    std::size_t e = value.find(';', pos);
    if (e == std::string_view::npos) e = value.size();
    const std::string_view part = text::trim(value.substr(pos, e - pos));
    const std::size_t eq = part.find('=');
    if (eq != std::string_view::npos && text::iequals(text::trim(part.substr(0, eq)), name))
      return std::string(text::trim(part.substr(eq + 1)));
    pos = e + 1;
  }
  return {};
}

OverlayAuth::OverlayAuth(std::string secret, std::string previous_secret, int window_s, std::size_t max_nonces)
    : secret_(std::move(secret)), previous_(std::move(previous_secret)), window_s_(window_s),
      max_nonces_(std::max<std::size_t>(max_nonces, 1)) {
  if (!secret_.empty()) current_mac_ = std::make_unique<HmacSha256>(secret_);
  if (!previous_.empty()) previous_mac_ = std::make_unique<HmacSha256>(previous_);
  unsigned char r[8];
  if (RAND_bytes(r, sizeof r) != 1) {
    // No entropy source at all is not a reason to refuse to start; the
    // counter alone still makes nonces unique within this process.
    std::fill(std::begin(r), std::end(r), 0);
  }
  nonce_prefix_ = hex_of(r, sizeof r);
}

bool OverlayAuth::mac_matches(std::string_view input, std::string_view mac_hex) {
  for (HmacSha256* h : {current_mac_.get(), previous_mac_.get()}) {
    if (!h) continue;
    const std::string want = h->hex(input);
    if (!want.empty() && want.size() == mac_hex.size() &&
        CRYPTO_memcmp(want.data(), mac_hex.data(), want.size()) == 0)
      return true;
  }
  return false;
}

std::string OverlayAuth::request_stamp(std::string_view text, std::int64_t unix_now, std::string* nonce) {
  const std::string n = nonce_prefix_ + "-" + std::to_string(next_nonce_++);
  const std::string ts = std::to_string(unix_now);
  ++counters_.signed_messages;
  if (nonce) *nonce = n;
  return "ts=" + ts + ";nonce=" + n + ";mac=" + current_mac_->hex(request_mac_input(text) + "\n" + ts + "\n" + n);
}

std::string OverlayAuth::sign_request(std::string t, std::int64_t unix_now, std::string* nonce) {
  if (!enabled()) return t;
  const std::size_t end = t.find("\r\n\r\n");
  if (end == std::string::npos) return t;
  const std::string line = std::string(kAuthHeader) + ": " + request_stamp(t, unix_now, nonce) + "\r\n";
  t.insert(end + 2, line);
  return t;
}

void OverlayAuth::forget_before(std::int64_t t) {
  while (!nonce_order_.empty() && (nonce_order_.front().first < t || nonces_.size() > max_nonces_)) {
    if (nonce_order_.front().first >= t) ++counters_.nonces_evicted;
    nonces_.erase(nonce_order_.front().second);
    nonce_order_.pop_front();
  }
}

MacCheck OverlayAuth::refuse(MacCheck c) {
  ++counters_.refused[static_cast<int>(c)];
  return c;
}

MacCheck OverlayAuth::check_request(std::string_view t, std::int64_t unix_now, std::string* nonce) {
  if (!enabled()) return MacCheck::Ok;
  const std::string value = auth_header_value(t);
  if (value.empty()) return refuse(MacCheck::Missing);
  const std::string ts = auth_param(value, "ts");
  const std::string n = auth_param(value, "nonce");
  const std::string m = auth_param(value, "mac");
  auto when = text::parse_uint(ts);
  if (!when || n.empty() || n.size() > 64 || m.size() != 64) return refuse(MacCheck::Malformed);
  if (!mac_matches(request_mac_input(t) + "\n" + ts + "\n" + n, m)) return refuse(MacCheck::BadMac);
  const auto at = static_cast<std::int64_t>(*when);
  if (at < unix_now - window_s_ || at > unix_now + window_s_) return refuse(MacCheck::Stale);
  forget_before(unix_now - window_s_);
  if (nonce) *nonce = n;
  std::string seen = m + "|" + top_via_branch(t);
  if (auto it = nonces_.find(n); it != nonces_.end()) {
    if (it->second != seen) return refuse(MacCheck::Replayed);
    ++counters_.retransmissions;
    return MacCheck::Retransmission;
  }
  nonces_.emplace(n, std::move(seen));
  nonce_order_.emplace_back(at, n);
  forget_before(unix_now - window_s_);
  ++counters_.accepted;
  return MacCheck::Ok;
}

std::string OverlayAuth::response_header(int status, std::string_view call_id, std::uint32_t cseq,
                                         std::string_view header_text, std::string_view request_nonce,
                                         std::string_view body) {
  if (!enabled()) return {};
  ++counters_.signed_messages;
  return std::string(kAuthHeader) + ": mac=" +
         current_mac_->hex(response_mac_input(status, call_id, cseq, header_text, request_nonce, body)) + "\r\n";
}

MacCheck OverlayAuth::check_response(int status, std::string_view call_id, std::uint32_t cseq,
                                     std::string_view response_text, std::string_view request_nonce) {
  if (!enabled()) return MacCheck::Ok;
  const std::string value = auth_header_value(response_text);
  if (value.empty()) return refuse(MacCheck::Missing);
  const std::string m = auth_param(value, "mac");
  if (m.size() != 64) return refuse(MacCheck::Malformed);
  if (!mac_matches(response_mac_input(status, call_id, cseq, response_text, request_nonce), m))
    return refuse(MacCheck::BadMac);
  ++counters_.accepted;
  return MacCheck::Ok;
}

}  // namespace sippeer::adaptor
