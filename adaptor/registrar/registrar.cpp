// RFC 3261 10.3 steps 5-8 over Sofia's parsed REGISTER. The request is
// handled in stages, so that a bad Contact anywhere changes nothing (as
// libre's sipsrv stages binding updates):
//   1. reject headers Sofia could not parse;
//   2. read every Contact into a Requested (URI, q, params, expires),
//      failing on the first bad one;
//   3. merge the requests into a copy of the stored bindings, failing on an
//      out-of-order CSeq;
//   4. only then build the new record and the reply.
#include "adaptor/registrar/registrar.h"
#include "dht/sip_text.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <limits>
#include <utility>

namespace sippeer::adaptor {

constexpr const char* kLogTag = "reg";  // see adaptor/log.h
namespace {

using std::string_view;

// A Sofia memory home on the stack, freed with the scope.
class Home {
 public:
  Home() = default;
  Home(const Home&) = delete;
  Home& operator=(const Home&) = delete;
  ~Home() { su_home_deinit(home_); }
  su_home_t* get() { return home_; }

 private:
  su_home_t home_[1] = {SU_HOME_INIT(home_)};
};

// ------------------------------------------------------------------ text

// Case-insensitive comparisons: the SIP lexer the overlay codec uses.
using dht::text::iequals;
using dht::text::istarts_with;
using dht::text::to_lower;

// Decimal digits only. Saturates at the uint64 maximum instead of wrapping,
// so a huge expires clamps to max_expires and a huge CSeq fails its range
// check rather than turning into a small number.
std::optional<std::uint64_t> parse_digits(string_view s) {
  if (s.empty()) return std::nullopt;
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    auto d = static_cast<std::uint64_t>(c - '0');
    v = v > (kMax - d) / 10 ? kMax : v * 10 + d;
  }
  return v;
}

// RFC 3261 qvalue: "0" ["." 0*3DIGIT] / "1" ["." 0*3("0")].
bool valid_qvalue(string_view q) {
  if (q.empty() || (q[0] != '0' && q[0] != '1')) return false;
  if (q.size() == 1) return true;
  if (q[1] != '.' || q.size() > 5) return false;
  string_view frac = q.substr(2);
  char top = q[0] == '1' ? '0' : '9';
  return std::all_of(frac.begin(), frac.end(), [top](char c) { return c >= '0' && c <= top; });
}

// A qvalue in thousandths, for sorting without floating point; absent = 1.
int q_thousandths(string_view q) {
  if (!valid_qvalue(q)) return 1000;
  int v = (q[0] - '0') * 1000;
  int scale = 100;
  for (char c : q.substr(std::min<std::size_t>(2, q.size()))) {
    v += (c - '0') * scale;
    scale /= 10;
  }
  return v;
}

// A quoted-string (RFC 3261 25.1). Call-IDs may hold '"' and '\', which
// need a quoted-pair; so may control characters, which Sofia would reject
// raw. CR and LF cannot be escaped at all (see the precondition in the
// header).
std::string quote(string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\' || (u < 0x20 && c != '\r' && c != '\n') || u == 0x7f) out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

std::optional<std::string> unquote(string_view s) {
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') return std::nullopt;
  s = s.substr(1, s.size() - 2);
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '"') return std::nullopt;
    if (s[i] == '\\') {
      if (++i == s.size()) return std::nullopt;
    }
    out += s[i];
  }
  return out;
}

// One Sofia contact-param, "name" or "name=value".
struct Param {
  string_view name;
  string_view value;
};

Param split_param(string_view s) {
  std::size_t eq = s.find('=');
  if (eq == string_view::npos) return {s, {}};
  return {s.substr(0, eq), s.substr(eq + 1)};
}

// Parameters the registrar writes itself. A client's own copies are
// dropped so that it cannot forge a stored expiry, Call-ID or CSeq.
bool is_registrar_param(string_view name) {
  return iequals(name, "q") || iequals(name, "expires") || istarts_with(name, "p2p-");
}

// ------------------------------------------------------------------- URIs

// A URI we can store and fork to: not `*`, not unparseable. A URI carrying
// `node` would read as an overlay node in the codec (codec.h), so it is
// refused rather than silently misrouted.
bool storable_uri(const url_t* url) {
  return url->url_type != url_any && url->url_type != url_invalid && url->url_scheme != nullptr &&
         !url_has_param(url, "node");
}

std::optional<std::string> uri_text(const url_t* url) {
  Home home;
  char* s = url_as_string(home.get(), url);
  if (s == nullptr) return std::nullopt;
  return std::string(s);
}

// RFC 3261 19.1.4 as Sofia's url_cmp_all implements it: scheme and host
// case-insensitive, user case-sensitive after unescaping, ports compared.
// Two practical deviations: for an IP host an absent port equals the
// default port, and URI parameters must match as text.
bool same_uri(const std::string& a, const std::string& b) {
  if (a == b) return true;
  Home home;
  url_t* ua = url_make(home.get(), a.c_str());
  url_t* ub = url_make(home.get(), b.c_str());
  return ua != nullptr && ub != nullptr && url_cmp_all(ua, ub) == 0;
}


// One Contact of the REGISTER, validated; expires 0 = remove.
struct Requested {
  std::string uri;
  std::string q;
  std::string params;
  std::int64_t expires = 0;
};

const std::string& uri_of(const Binding& b) { return b.uri; }
const std::string& uri_of(const Requested& r) { return r.uri; }

// The element of `range` (Bindings or Requesteds) naming the same URI.
template <typename Range>
auto find_uri(Range& range, const std::string& uri) {
  return std::find_if(range.begin(), range.end(), [&](const auto& x) { return same_uri(uri_of(x), uri); });
}

// ---------------------------------------------------------------- headers

// Sofia keeps headers it cannot parse in sip_error instead of the typed
// field. A Contact there would otherwise make the REGISTER look like a
// query; an Expires there would silently become the default.
//
// The list is not only error headers: a second To, From, Call-ID or
// Max-Forwards (headers there may be one of) is put on it as it is, a
// sip_to_t and so on, whose third field is not er_name (a Max-Forwards'
// count read as a pointer crashed here; found by tests/fuzz/fuzz_sip). So
// the name comes from the header's class unless it is an error header.
RegError unparsed_header_error(const sip_t* sip) {
  for (const sip_error_t* e = sip->sip_error; e != nullptr; e = e->er_next) {
    const msg_hclass_t* hc = e->er_common->h_class;
    const char* raw = hc == sip_error_class ? e->er_name : (hc ? hc->hc_name : nullptr);
    string_view name = raw ? raw : "";
    if (iequals(name, "Contact") || iequals(name, "m")) return RegError::BadContact;
    if (iequals(name, "Expires")) return RegError::BadExpires;
  }
  return RegError::None;
}

bool is_wildcard(const sip_contact_t* c) { return c->m_url->url_type == url_any; }

// The first Path value (RFC 3327), which the phone's edge node put there
// for its flow; "" when there is none. Later values are ignored: a ring
// never needs more than the edge.
std::string first_path(const sip_t* sip) {
  if (sip->sip_path == nullptr) return {};
  auto uri = uri_text(sip->sip_path->r_url);
  return uri ? "<" + *uri + ">" : std::string();
}

bool single_contact_agent(const RegistrarPolicy& policy, const sip_t* sip) {
  if (sip->sip_user_agent == nullptr || sip->sip_user_agent->g_string == nullptr) return false;
  string_view ua = sip->sip_user_agent->g_string;
  return std::any_of(policy.single_contact_user_agents.begin(), policy.single_contact_user_agents.end(),
                     [ua](const std::string& prefix) { return ua.starts_with(prefix); });
}

// -------------------------------------------------------------- requests


// The requested lifetime (RFC 3261 10.3 step 6): the contact's expires
// param, else the Expires header, else the default; capped at the maximum.
RegError requested_expires(const RegistrarPolicy& policy, const sip_contact_t* c,
                           const sip_expires_t* header, std::int64_t& out) {
  std::uint64_t asked = static_cast<std::uint64_t>(std::max(policy.default_expires, 0));
  if (c->m_expires != nullptr) {
    auto v = parse_digits(c->m_expires);
    if (!v) return RegError::BadExpires;
    asked = *v;
  } else if (header != nullptr) {
    // RFC 3261 allows only delta-seconds; the RFC 2543 date form is
    // refused, as kamailio does, rather than guessed at.
    if (header->ex_date != 0) return RegError::BadExpires;
    asked = header->ex_delta;
  }
  auto max = static_cast<std::uint64_t>(std::max(policy.max_expires, 0));
  out = static_cast<std::int64_t>(std::min(asked, max));
  if (out > 0 && out < policy.min_expires) return RegError::IntervalTooBrief;
  return RegError::None;
}

RegError read_contact(const RegistrarPolicy& policy, const sip_contact_t* c, const sip_expires_t* header,
                      Requested& out) {
  if (!storable_uri(c->m_url)) return RegError::BadContact;
  auto uri = uri_text(c->m_url);
  if (!uri) return RegError::BadContact;
  out.uri = std::move(*uri);
  if (c->m_q != nullptr) {
    if (!valid_qvalue(c->m_q)) return RegError::BadQValue;
    out.q = c->m_q;
  }
  for (const msg_param_t* p = c->m_params; p != nullptr && *p != nullptr; ++p) {
    if (is_registrar_param(split_param(*p).name)) continue;
    out.params += ';';
    out.params += *p;
  }
  return requested_expires(policy, c, header, out.expires);
}

// Step 5: `Contact: *` must stand alone, with Expires: 0. It then asks to
// remove every stored binding, which step 7 checks like any removal.
RegError read_wildcard(const sip_t* sip, const std::vector<Binding>& stored, std::vector<Requested>& out) {
  const sip_expires_t* ex = sip->sip_expires;
  if (ex == nullptr || ex->ex_date != 0 || ex->ex_delta != 0) return RegError::StarWithoutExpiresZero;
  for (const auto& b : stored) out.push_back(Requested{b.uri, {}, {}, 0});
  return RegError::None;
}

RegError read_requests(const RegistrarPolicy& policy, const sip_t* sip, const std::vector<Binding>& stored,
                       std::vector<Requested>& out) {
  bool wildcard = false;
  std::size_t count = 0;
  for (const sip_contact_t* c = sip->sip_contact; c != nullptr; c = c->m_next, ++count) {
    wildcard = wildcard || is_wildcard(c);
  }
  if (wildcard) return count > 1 ? RegError::StarWithContacts : read_wildcard(sip, stored, out);
  for (const sip_contact_t* c = sip->sip_contact; c != nullptr; c = c->m_next) {
    Requested r;
    if (auto e = read_contact(policy, c, sip->sip_expires, r); e != RegError::None) return e;
    out.push_back(std::move(r));
  }
  return RegError::None;
}

// ---------------------------------------------------------------- bindings

// The decodable, unexpired bindings of a record. Expired ones are dropped
// here, so they vanish whenever the record is rewritten; undecodable ones
// too, as nothing could route to them.
std::vector<Binding> stored_bindings(const dht::Record* record, std::int64_t now) {
  std::vector<Binding> out;
  if (record == nullptr) return out;
  for (const auto& value : record->bindings) {
    auto b = decode_binding(value);
    if (b && b->expires_at > now) out.push_back(std::move(*b));
  }
  return out;
}

// Step 7's ordering check against the binding as stored before this
// request (not as already updated by an earlier Contact of the same
// request, so a URI listed twice is not its own out-of-order rival).
bool out_of_order(const std::vector<Binding>& stored, const Requested& r, string_view call_id,
                  std::uint32_t cseq) {
  auto it = find_uri(stored, r.uri);
  return it != stored.end() && it->call_id == call_id && cseq <= it->cseq;
}

// A retransmission of the REGISTER that wrote the stored bindings: every
// Contact it names is stored with its Call-ID and CSeq (or, for a removal,
// is already gone). The registrar answers statelessly (register_flow.cpp:
// an nta server transaction per REGISTER would hold ~10 KB for 32 s), so
// retransmissions reach it; they get the same 200 again and change
// nothing, as a transaction layer would have done. A different request
// with a reused CSeq still fails in merge().
bool is_retransmission(const std::vector<Binding>& stored, const std::vector<Requested>& requests,
                       string_view call_id, std::uint32_t cseq) {
  bool matched = false;
  for (const auto& r : requests) {
    auto it = find_uri(stored, r.uri);
    if (it == stored.end()) {
      if (r.expires != 0) return false;
      continue;
    }
    if (r.expires == 0 || it->call_id != call_id || it->cseq != cseq) return false;
    matched = true;
  }
  return matched;
}

// Step 7. RFC 3261 says the update "MUST be aborted and the request fails"
// when the Call-ID matches and the CSeq is not higher, without naming a
// status; since all binding updates must then be rolled back "with a 500
// (Server Error) response", we answer 500 (as kamailio does, "out of order
// request") and leave the stored record as it was.
RegError merge(const std::vector<Binding>& stored, const std::vector<Requested>& requests,
               const sip_t* sip, const std::string& path, std::int64_t now, std::vector<Binding>& next) {
  string_view call_id = sip->sip_call_id->i_id;
  std::uint32_t cseq = sip->sip_cseq->cs_seq;
  next = stored;
  for (const auto& r : requests) {
    if (out_of_order(stored, r, call_id, cseq)) return RegError::OutOfOrder;
    auto it = find_uri(next, r.uri);
    if (r.expires == 0) {
      if (it != next.end()) next.erase(it);
      continue;
    }
    Binding b{r.uri, r.q, now + r.expires, std::string(call_id), cseq, r.params, path};
    if (it != next.end()) {
      *it = std::move(b);  // refresh, or a new Call-ID taking the binding over
    } else {
      next.push_back(std::move(b));
    }
  }
  return RegError::None;
}

// ------------------------------------------------------------------ reply

std::string reply_value(const Binding& b, std::int64_t now) {
  std::string s = "<" + b.uri + ">;expires=" + std::to_string(std::max<std::int64_t>(b.expires_at - now, 0));
  if (!b.q.empty()) s += ";q=" + b.q;
  return s;
}

// Which bindings the 200 lists: all of them, or for a single-contact UA
// only those this REGISTER named.
std::vector<std::string> reply_values(const std::vector<Binding>& bindings, const std::vector<Requested>* own,
                                      std::int64_t now) {
  std::vector<std::string> out;
  for (const auto& b : bindings) {
    if (own != nullptr && find_uri(*own, b.uri) == own->end()) continue;
    out.push_back(reply_value(b, now));
  }
  return out;
}

RegisterOutcome failure(const RegistrarPolicy& policy, RegError e) {
  RegisterOutcome out;
  out.error = e;
  RegReply reply = reg_reply(e);
  out.status = reply.status;
  out.phrase = reply.phrase;
  if (e == RegError::IntervalTooBrief) out.min_expires = policy.min_expires;
  return out;
}

std::vector<std::string> encode_all(const std::vector<Binding>& bindings) {
  std::vector<std::string> out;
  out.reserve(bindings.size());
  for (const auto& b : bindings) out.push_back(encode_binding(b));
  return out;
}

dht::Duration lifetime(const std::vector<Binding>& bindings, std::int64_t now) {
  std::int64_t latest = now;
  for (const auto& b : bindings) latest = std::max(latest, b.expires_at);
  return std::chrono::seconds(latest - now);
}

// Step 8: the record to store, unless it would equal what is stored (a
// removal of an unknown contact, a tombstone over a tombstone or nothing).
void set_record(RegisterOutcome& out, const std::vector<Binding>& next, const std::string& aor,
                const dht::Id& key, const dht::Record* existing, std::int64_t now) {
  std::vector<std::string> encoded = encode_all(next);
  const std::vector<std::string> none;
  if (encoded == (existing ? existing->bindings : none)) return;
  std::uint64_t version = existing ? existing->version + 1 : 1;
  out.record = dht::Record{key, aor, std::move(encoded), version};
  out.ttl = lifetime(next, now);
}

}  // namespace

// ================================================================ bindings

std::string encode_binding(const Binding& b) {
  std::string s;
  s.reserve(b.uri.size() + b.call_id.size() + b.params.size() + 64);
  s += '<';
  s += b.uri;
  s += '>';
  if (!b.q.empty()) s += ";q=" + b.q;
  s += ";p2p-until=" + std::to_string(b.expires_at);
  s += ";p2p-callid=" + quote(b.call_id);
  s += ";p2p-cseq=" + std::to_string(b.cseq);
  if (!b.path.empty()) s += ";p2p-path=" + quote(b.path);
  s += b.params;
  return s;
}

namespace {

// Reads one contact-param ("name" or "name=value", as Sofia keeps them)
// into the binding; false when a p2p-* value is bad.
bool read_binding_param(string_view raw, Binding& b, int& seen) {
  Param p = split_param(raw);
  if (iequals(p.name, "q")) {
    b.q = std::string(p.value);
  } else if (iequals(p.name, "p2p-until")) {
    auto v = parse_digits(p.value);
    if (!v || *v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return false;
    b.expires_at = static_cast<std::int64_t>(*v);
    seen |= 1;
  } else if (iequals(p.name, "p2p-callid")) {
    auto v = unquote(p.value);
    if (!v) return false;
    b.call_id = std::move(*v);
    seen |= 2;
  } else if (iequals(p.name, "p2p-cseq")) {
    auto v = parse_digits(p.value);
    if (!v || *v > std::numeric_limits<std::uint32_t>::max()) return false;
    b.cseq = static_cast<std::uint32_t>(*v);
    seen |= 4;
  } else if (iequals(p.name, "p2p-path")) {
    auto v = unquote(p.value);
    if (!v) return false;
    b.path = std::move(*v);
  } else if (!iequals(p.name, "expires")) {
    // Anything else, including p2p-* params a newer node may add, is kept.
    b.params += ';';
    b.params += raw;
  }
  return true;
}

// The bytes decode_plain takes in a URI: those of a sip: URI as
// url_as_string writes it back unchanged. Not '%' (escapes), '?'
// (headers), '[' (IPv6), ',' or '"' (which Sofia reads in its own ways),
// nor whitespace: those go to Sofia.
constexpr dht::text::ByteClass plain_uri_class() {
  dht::text::ByteClass t{};
  for (int c = 0; c < 256; ++c) t[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  for (char c : string_view("-_.!~*'()&=+$;:@/")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr dht::text::ByteClass kPlainUri = plain_uri_class();
// Bytes of a token (RFC 3261 25.1), for parameter names and plain values.
using dht::text::kToken;

bool plain_quoted(string_view v) {
  // A quoted-string of printable ASCII whose only escapes are \" and \\:
  // what encode_binding writes for an ordinary Call-ID or Path.
  if (v.size() < 2 || v.front() != '"' || v.back() != '"') return false;
  for (std::size_t i = 1; i + 1 < v.size(); ++i) {
    const auto c = static_cast<unsigned char>(v[i]);
    if (c < 0x20 || c > 0x7e) return false;
    if (c == '\\') {
      if (i + 2 >= v.size() || (v[i + 1] != '"' && v[i + 1] != '\\')) return false;
      ++i;
    } else if (c == '"') {
      return false;
    }
  }
  return true;
}

// The stored shape encode_binding writes, read without Sofia: "<" plain
// URI ">" and ";name[=value]" params, each value a token or a plain
// quoted-string. nullopt means "not that shape": the caller asks Sofia,
// which also decides whether anything else is a valid binding. Sofia's
// contact parser cost ~8,000 instructions a binding, and every REGISTER
// refresh and every call or MESSAGE to a user decodes each of its
// bindings (callgrind, docs/BENCHMARKS.md). registrar_test checks that
// both readings agree on every value this one takes.
std::optional<std::optional<Binding>> decode_plain(string_view v) {
  if (v.size() < 3 || v.front() != '<') return std::nullopt;
  const std::size_t gt = v.find('>');
  if (gt == string_view::npos) return std::nullopt;
  const string_view uri = v.substr(1, gt - 1);
  std::size_t host = uri.compare(0, 4, "sip:") == 0 ? 4 : uri.compare(0, 5, "sips:") == 0 ? 5 : 0;
  if (host == 0) return std::nullopt;
  for (char c : uri)
    if (!dht::text::in(kPlainUri, c)) return std::nullopt;
  const std::size_t at = uri.find('@');
  const std::size_t semi = uri.find(';');
  if (at != string_view::npos) {
    if (semi < at || at == host) return std::nullopt;  // ';' in the user part, or no user
    host = at + 1;
  }
  // host[:port]: a host name or IPv4 address, a port of digits.
  const string_view hostport = uri.substr(host, semi == string_view::npos ? string_view::npos : semi - host);
  const std::size_t colon = hostport.find(':');
  const string_view hostname = hostport.substr(0, colon);
  const string_view port = colon == string_view::npos ? string_view() : hostport.substr(colon + 1);
  if (hostname.empty() || (colon != string_view::npos && (port.empty() || port.size() > 5))) return std::nullopt;
  for (char c : hostname)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') return std::nullopt;
  for (char c : port)
    if (c < '0' || c > '9') return std::nullopt;
  // A URI naming an overlay node is not storable (storable_uri).
  for (string_view rest = semi == string_view::npos ? string_view() : uri.substr(semi + 1); !rest.empty();) {
    const std::size_t next = rest.find(';');
    const string_view param = rest.substr(0, next);
    if (param.empty() || iequals(split_param(param).name, "node")) return std::nullopt;
    rest = next == string_view::npos ? string_view() : rest.substr(next + 1);
  }
  Binding b;
  b.uri = std::string(uri);
  int seen = 0;
  std::size_t pos = gt + 1;
  while (pos < v.size()) {
    if (v[pos] != ';') return std::nullopt;
    std::size_t end = ++pos;
    while (end < v.size() && dht::text::in(kToken, v[end])) ++end;
    if (end == pos) return std::nullopt;
    if (end < v.size() && v[end] == '=') {
      ++end;
      if (end < v.size() && v[end] == '"') {
        const std::size_t past = dht::text::skip_quoted(v, end);
        if (past == string_view::npos || !plain_quoted(v.substr(end, past - end))) return std::nullopt;
        end = past;
      } else {
        const std::size_t start = end;
        while (end < v.size() && dht::text::in(kToken, v[end])) ++end;
        if (end == start) return std::nullopt;
      }
    }
    if (end < v.size() && v[end] != ';') return std::nullopt;
    if (!read_binding_param(v.substr(pos, end - pos), b, seen)) return std::optional<Binding>();
    pos = end;
  }
  if (seen != 7) return std::optional<Binding>();
  return std::optional<Binding>(std::move(b));
}

}  // namespace

std::optional<Binding> decode_binding(std::string_view value) {
  if (auto plain = decode_plain(value)) return std::move(*plain);
  return decode_binding_with_sofia(value);
}

std::optional<Binding> decode_binding_with_sofia(std::string_view value) {
  Home home;
  std::string text(value);
  const sip_contact_t* c = sip_contact_make(home.get(), text.c_str());
  if (c == nullptr || c->m_next != nullptr || !storable_uri(c->m_url)) return std::nullopt;
  auto uri = uri_text(c->m_url);
  if (!uri) return std::nullopt;
  Binding b;
  b.uri = std::move(*uri);
  int seen = 0;
  for (const msg_param_t* p = c->m_params; p != nullptr && *p != nullptr; ++p) {
    if (!read_binding_param(*p, b, seen)) return std::nullopt;
  }
  if (seen != 7) return std::nullopt;
  return b;
}

// ================================================================ register

Reject reg_reject(RegError e) {
  switch (e) {
    case RegError::BadContact: return Reject::BadContact;
    case RegError::BadQValue: return Reject::BadQValue;
    case RegError::StarWithContacts: return Reject::StarWithContacts;
    case RegError::StarWithoutExpiresZero: return Reject::StarWithoutExpiresZero;
    case RegError::IntervalTooBrief: return Reject::IntervalTooBrief;
    case RegError::BadExpires: return Reject::BadExpires;
    case RegError::MissingHeader: return Reject::MissingHeader;
    case RegError::OutOfOrder: return Reject::OutOfOrder;
    case RegError::TooManyContacts: return Reject::TooManyContacts;
    case RegError::RegistrarFull: return Reject::RegistrarFull;
    case RegError::None:
    case RegError::Internal: break;
  }
  return Reject::Internal;
}

RegReply reg_reply(RegError e) {
  if (e == RegError::None) return {200, "OK"};
  const ReplyRow& row = reply_row(reg_reject(e));
  return {row.status, row.phrase};
}

RegisterOutcome apply_register(const RegistrarPolicy& policy, const sip_t* sip, const std::string& aor,
                               const dht::Id& key, const dht::Record* existing, std::int64_t now_unix) {
  if (sip == nullptr) return failure(policy, RegError::Internal);
  if (auto e = unparsed_header_error(sip); e != RegError::None) return failure(policy, e);
  std::vector<Binding> stored = stored_bindings(existing, now_unix);
  bool single = single_contact_agent(policy, sip);
  const std::vector<Requested> no_requests;

  RegisterOutcome out;
  if (sip->sip_contact == nullptr) {
    // A query (step 6 onwards do not apply): list, change nothing. A
    // single-contact UA named no contact, so it is listed none.
    out.reply_contacts = reply_values(stored, single ? &no_requests : nullptr, now_unix);
    return out;
  }
  if (sip->sip_call_id == nullptr || sip->sip_call_id->i_id == nullptr || sip->sip_cseq == nullptr)
    return failure(policy, RegError::MissingHeader);

  std::vector<Requested> requests;
  if (auto e = read_requests(policy, sip, stored, requests); e != RegError::None) return failure(policy, e);
  if (is_retransmission(stored, requests, sip->sip_call_id->i_id, sip->sip_cseq->cs_seq)) {
    out.reply_contacts = reply_values(stored, single ? &requests : nullptr, now_unix);
    return out;
  }
  std::vector<Binding> next;
  if (auto e = merge(stored, requests, sip, first_path(sip), now_unix, next); e != RegError::None)
    return failure(policy, e);
  // A REGISTER may always refresh or remove; it may not add past the bound
  // (issue 14: one user must not make every call fork to thousands).
  if (next.size() > static_cast<std::size_t>(policy.max_contacts) && next.size() > stored.size())
    return failure(policy, RegError::TooManyContacts);

  set_record(out, next, aor, key, existing, now_unix);
  out.reply_contacts = reply_values(next, single ? &requests : nullptr, now_unix);
  return out;
}

std::vector<Binding> sorted_bindings(const dht::Record& record) {
  std::vector<Binding> out;
  for (const auto& value : record.bindings)
    if (auto b = decode_binding(value)) out.push_back(std::move(*b));
  std::stable_sort(out.begin(), out.end(),
                   [](const Binding& a, const Binding& b) { return q_thousandths(a.q) > q_thousandths(b.q); });
  return out;
}

std::vector<Binding> live_bindings(const dht::Record& record, std::int64_t now_unix) {
  // Dropping the expired after a stable sort keeps the order a sort of
  // the unexpired alone would give.
  std::vector<Binding> out = sorted_bindings(record);
  std::erase_if(out, [now_unix](const Binding& b) { return b.expires_at <= now_unix; });
  return out;
}

std::vector<std::string> reply_contacts(const dht::Record& record, std::int64_t now_unix) {
  return reply_values(stored_bindings(&record, now_unix), nullptr, now_unix);
}

}  // namespace sippeer::adaptor
