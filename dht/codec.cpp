// The SIP text form of overlay messages. Decoding is a single pass over
// string_views into the input: no regex, no exceptions, no copies beyond
// the strings the decoded message owns. Every malformed input ends in a
// DecodeError, never in an assertion, because the input comes off the wire.
#include "dht/codec.h"
#include "dht/sip_text.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>

namespace sippeer::dht {
namespace {

using std::string_view;
using namespace std::string_view_literals;
constexpr std::size_t npos = string_view::npos;

// ---------------------------------------------------------------- results

// A value or the reason there is none. Internal helpers need the reason
// (BadId vs BadUri...), which the public optional-returning helpers drop.
template <typename T>
class Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}  // NOLINT: implicit on purpose
  Expected(DecodeError e) : v_(e) {}           // NOLINT
  explicit operator bool() const { return v_.index() == 0; }
  T& operator*() { return std::get<0>(v_); }
  T* operator->() { return &std::get<0>(v_); }
  DecodeError error() const { return std::get<1>(v_); }

 private:
  std::variant<T, DecodeError> v_;
};

// Empty on success.
using MaybeError = std::optional<DecodeError>;

// The SIP text lexer (characters, trimming, values, parameters) is
// dht/sip_text.h, shared with the registrar.
using namespace text;

// A number formatted on the stack, so building a message does not allocate
// a temporary string per header.
class Num {
 public:
  explicit Num(std::uint64_t v) : len_(std::to_chars(buf_, buf_ + sizeof buf_, v).ptr - buf_) {}
  explicit Num(std::int64_t v) : len_(std::to_chars(buf_, buf_ + sizeof buf_, v).ptr - buf_) {}
  explicit Num(int v) : Num(static_cast<std::int64_t>(v)) {}
  operator string_view() const { return {buf_, static_cast<std::size_t>(len_)}; }  // NOLINT

 private:
  char buf_[24];
  std::ptrdiff_t len_;
};

// A literal's length is known at compile time; a `const char*` would cost
// a strlen per header written (3 % of the simulator's instructions). For
// string literals only: a char buffer must be passed as a string_view (or
// Num), or its whole size would be written.
template <std::size_t N>
string_view piece(const char (&literal)[N]) {
  return {literal, N - 1};
}
template <typename T>
string_view piece(const T& part) {
  return string_view(part);
}

template <typename... Parts>
void line(std::string& out, const Parts&... parts) {
  (out.append(piece(parts)), ...);
  out.append("\r\n"sv);
}

// ------------------------------------------------------------------- URIs

// sip:[user@]hostport[;params][?headers], split but not interpreted.
struct SipUri {
  string_view scheme;
  string_view user;
  string_view hostport;
  string_view params;  // URI parameters, starting with ';'
};

std::optional<SipUri> split_sip_uri(string_view uri) {
  std::size_t colon = uri.find(':');
  if (colon == npos) return std::nullopt;
  SipUri u;
  u.scheme = slice(uri, 0, colon);
  // tel: names a telephone number or prefix a gateway registered (issue
  // 17, report 6.2): "tel:+1212", the number where a sip: URI has its host.
  const bool tel = iequals(u.scheme, "tel");
  if (!tel && !iequals(u.scheme, "sip") && !iequals(u.scheme, "sips")) return std::nullopt;
  string_view rest = slice(uri, colon + 1);
  if (std::any_of(rest.begin(), rest.end(), [](char c) { return in(kNotInUri, c); }))
    return std::nullopt;
  if (tel && rest.find('@') != npos) return std::nullopt;
  // Neither parameters nor headers may hold a raw '@', so the first one ends
  // the userinfo even when the user part itself contains ';' or '?'.
  if (std::size_t at = rest.find('@'); at != npos) {
    u.user = slice(rest, 0, at);
    rest = slice(rest, at + 1);
    // "sip:@h" and "sip:a@b@c" would canonicalise into a different URI.
    if (u.user.empty() || rest.find('@') != npos) return std::nullopt;
  }
  rest = slice(rest, 0, std::min(rest.find('?'), rest.size()));
  std::size_t semi = std::min(rest.find(';'), rest.size());
  u.hostport = slice(rest, 0, semi);
  u.params = slice(rest, semi);
  if (u.hostport.empty()) return std::nullopt;
  return u;
}

// A name-addr or addr-spec as found in To, From and Contact values, or a
// bare URI handed to parse_target.
struct UriValue {
  SipUri uri;
  string_view header_params;  // after the URI: ;tag=, ;q=, ;predecessor=
  bool node = false;          // carries the `node` parameter
};

// Locates the URI inside a header value: `"Name" <uri>;p`, `Name <uri>;p`,
// `<uri>;p` or `uri;p`.
std::optional<UriValue> read_uri_value(string_view v) {
  v = trim(v);
  if (v.empty()) return std::nullopt;
  std::size_t lt;
  if (v.front() == '"') {
    std::size_t end = skip_quoted(v, 0);
    if (end == npos) return std::nullopt;
    lt = v.find_first_not_of(" \t", end);
    if (lt == npos || v[lt] != '<') return std::nullopt;
  } else {
    lt = v.find_first_of("<;\"");
    if (lt != npos && v[lt] != '<') lt = npos;
  }
  string_view uri;
  UriValue out;
  bool bracketed = lt != npos;
  if (bracketed) {
    std::size_t gt = v.find('>', lt + 1);
    if (gt == npos) return std::nullopt;
    uri = trim(slice(v, lt + 1, gt - lt - 1));
    out.header_params = slice(v, gt + 1);
  } else {
    // Without <>, RFC 3261 20.10 gives every ';' parameter to the header.
    std::size_t semi = std::min(v.find(';'), v.size());
    uri = rtrim(slice(v, 0, semi));
    out.header_params = slice(v, semi);
  }
  auto split = split_sip_uri(uri);
  if (!split) return std::nullopt;
  out.uri = *split;
  // A bare URI cannot carry URI parameters, so there `node` lands among the
  // header parameters; it still means the same thing.
  out.node = find_param(out.uri.params, "node").has_value() ||
             (!bracketed && find_param(out.header_params, "node").has_value());
  return out;
}

// The host without a trailing ":port" (IPv6 references keep their []).
string_view host_of(string_view hostport) {
  std::size_t colon = hostport.rfind(':');
  if (colon == npos || hostport.find(']', colon) != npos) return hostport;
  string_view port = slice(hostport, colon + 1);
  if (port.empty() || !std::all_of(port.begin(), port.end(), is_digit)) return hostport;
  return slice(hostport, 0, colon);
}

std::string canonical_of(const SipUri& u) {
  std::string s;
  s.reserve(u.scheme.size() + u.user.size() + u.hostport.size() + 2);
  append_lower(s, u.scheme);
  s += ':';
  if (!u.user.empty()) {
    s.append(u.user);
    s += '@';
  }
  append_lower(s, u.hostport);
  return s;
}

Expected<NodeRef> node_of(const SipUri& u, const Ring& ring) {
  auto id = ring.parse(u.user);
  if (!id) return DecodeError::BadId;
  return NodeRef{*id, std::string(u.hostport)};
}

// Node, key or user: see the rule at the top of codec.h.
Expected<Target> target_of(const UriValue& v, const Ring& ring, string_view domain) {
  if (v.node) {
    auto n = node_of(v.uri, ring);
    if (!n) return n.error();
    return Target::node(*n);
  }
  if (iequals(host_of(v.uri.hostport), domain)) {
    auto id = ring.parse(v.uri.user);
    if (!id) return DecodeError::BadId;
    return Target::key(*id);
  }
  std::string aor = canonical_of(v.uri);
  Id key = ring.hash(aor);
  return Target::user(key, std::move(aor));
}

Expected<Target> read_target(string_view value, const Ring& ring, string_view domain) {
  auto v = read_uri_value(value);
  if (!v) return DecodeError::BadUri;
  return target_of(*v, ring, domain);
}

void append_node_uri(std::string& out, const NodeRef& n, const Ring& ring) {
  out.append("sip:"sv);
  ring.append_format(out, n.id);
  out += '@';
  out.append(n.address);
  out.append(";node"sv);
}

// --------------------------------------------------------------- contacts

// q-values are kept in thousandths so that sorting never meets floating
// point and "0.8" and ".800" compare equal.
constexpr int kQOne = 1000;

int q_thousandths(std::size_t index, std::size_t count) {
  if (count == 0 || index == 0) return kQOne;
  if (index >= count) return 0;
  // 1 - index/count rounded half up to three decimals, in integers.
  std::uint64_t left = count - index;
  return static_cast<int>((2 * kQOne * left + count) / (2 * count));
}

void append_q(std::string& out, int q) {
  if (q >= kQOne) {
    out += '1';
    return;
  }
  if (q <= 0) {
    out += '0';
    return;
  }
  char digits[3] = {static_cast<char>('0' + q / 100), static_cast<char>('0' + q / 10 % 10),
                    static_cast<char>('0' + q % 10)};
  std::size_t n = 3;
  while (digits[n - 1] == '0') --n;
  out.append("0."sv);
  out.append(digits, n);
}

std::optional<int> parse_q(string_view s) {
  s = trim(s);
  std::size_t i = 0;
  int whole = 0;
  bool any_digit = false;
  if (i < s.size() && is_digit(s[i])) {
    whole = s[i++] - '0';
    any_digit = true;
  }
  int frac = 0;
  int frac_digits = 0;
  if (i < s.size()) {
    if (s[i++] != '.') return std::nullopt;
    for (; i < s.size(); ++i) {
      if (!is_digit(s[i])) return std::nullopt;
      any_digit = true;
      // Digits beyond the third cannot change a q-value written by RFC 3261
      // rules; accept and ignore them.
      if (frac_digits < 3) {
        frac = frac * 10 + (s[i] - '0');
        ++frac_digits;
      }
    }
  }
  if (!any_digit) return std::nullopt;
  for (; frac_digits < 3; ++frac_digits) frac *= 10;
  int q = whole * kQOne + frac;
  if (q > kQOne) return std::nullopt;
  return q;
}

void append_contact_value(std::string& out, const Contact& c, std::size_t index,
                          std::size_t count, const Ring& ring) {
  out += '<';
  append_node_uri(out, c.node, ring);
  out.append(">;q="sv);
  append_q(out, q_thousandths(index, count));
  if (c.predecessor) {
    // Quoted: the node URI's ':', '@' and ';node' are not token characters.
    out.append(";predecessor=\"<"sv);
    append_node_uri(out, *c.predecessor, ring);
    out += '>';
    out += '"';
  }
}

struct RankedContact {
  Contact contact;
  int q = kQOne;
};

// The predecessor parameter is a node by position, so the report's own
// unquoted `predecessor=sip:1@128.59.15.60` (no `node` parameter, which an
// unquoted value could not carry anyway) is accepted. Empty means unknown,
// as in the report's appendix ("predecessor=").
MaybeError read_predecessor(string_view value, const Ring& ring, std::optional<NodeRef>& out) {
  value = trim(value);
  out.reset();
  if (value.empty()) return std::nullopt;
  auto v = read_uri_value(value);
  if (!v) return DecodeError::BadUri;
  auto n = node_of(v->uri, ring);
  if (!n) return n.error();
  out = std::move(*n);
  return std::nullopt;
}

// `v` is a Contact value already known to carry `node`.
Expected<RankedContact> read_node_contact(const UriValue& v, const Ring& ring) {
  auto node = node_of(v.uri, ring);
  if (!node) return node.error();
  RankedContact rc;
  rc.contact.node = std::move(*node);
  ParamCursor cur(v.header_params);
  string_view name, pv;
  while (cur.next(name, pv)) {
    if (iequals(name, "q")) {
      auto q = parse_q(pv);
      if (!q) return DecodeError::BadHeaderValue;
      rc.q = *q;
    } else if (iequals(name, "predecessor")) {
      if (auto e = read_predecessor(pv, ring, rc.contact.predecessor)) return *e;
    }
  }
  if (cur.bad()) return DecodeError::BadHeaderValue;
  return rc;
}

// Highest q first; equal q keep their order on the wire.
std::vector<Contact> by_preference(std::vector<RankedContact>& ranked) {
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const RankedContact& a, const RankedContact& b) { return a.q > b.q; });
  std::vector<Contact> out;
  out.reserve(ranked.size());
  for (auto& r : ranked) out.push_back(std::move(r.contact));
  return out;
}

Expected<std::vector<Contact>> read_node_contacts(const std::vector<string_view>& values,
                                                  const Ring& ring) {
  std::vector<RankedContact> ranked;
  ranked.reserve(values.size());
  for (string_view value : values) {
    auto v = read_uri_value(value);
    if (!v || !v->node) return DecodeError::BadUri;
    auto rc = read_node_contact(*v, ring);
    if (!rc) return rc.error();
    ranked.push_back(std::move(*rc));
  }
  return by_preference(ranked);
}

// ------------------------------------------------------- header block

enum class Hdr : std::uint8_t {
  Other,
  Via,
  From,
  To,
  CallId,
  CSeq,
  Contact,
  Expires,
  MaxForwards,
  Reason,
  RecordVersion,
  RecordKind,
  Credential,
  StoredMessage,
  Subscription,
  Owner,
  Hops,
  List,
  ContentLength,
  ContentType,
  kCount,
};

Hdr classify(string_view name) {
  if (name.size() == 1) {
    switch (to_lower(name.front())) {
      case 'v': return Hdr::Via;
      case 'f': return Hdr::From;
      case 't': return Hdr::To;
      case 'i': return Hdr::CallId;
      case 'm': return Hdr::Contact;
      case 'l': return Hdr::ContentLength;
      case 'c': return Hdr::ContentType;
      default: return Hdr::Other;
    }
  }
  static constexpr std::pair<string_view, Hdr> kNames[] = {
      {"Via", Hdr::Via},
      {"From", Hdr::From},
      {"To", Hdr::To},
      {"Call-ID", Hdr::CallId},
      {"CSeq", Hdr::CSeq},
      {"Contact", Hdr::Contact},
      {"Expires", Hdr::Expires},
      {"Max-Forwards", Hdr::MaxForwards},
      {"Reason", Hdr::Reason},
      {"P2P-Record-Version", Hdr::RecordVersion},
      {"P2P-Record-Kind", Hdr::RecordKind},
      {"P2P-Credential", Hdr::Credential},
      {"P2P-Stored-Message", Hdr::StoredMessage},
      {"P2P-Subscription", Hdr::Subscription},
      {"P2P-Owner", Hdr::Owner},
      {"P2P-Hops", Hdr::Hops},
      {"P2P-List", Hdr::List},
      {"Content-Length", Hdr::ContentLength},
      {"Content-Type", Hdr::ContentType},
  };
  // Length and first letter rule out almost every candidate cheaply.
  char first = to_lower(name.front());
  for (const auto& [n, h] : kNames)
    if (n.size() == name.size() && to_lower(n.front()) == first && iequals(n, name)) return h;
  return Hdr::Other;
}

// The headers this codec reads, as views into the message text.
struct Head {
  std::array<std::optional<string_view>, static_cast<std::size_t>(Hdr::kCount)> single;
  std::vector<string_view> vias;      // one entry per Via value
  std::vector<string_view> contacts;  // one entry per Contact value
  std::vector<string_view> stored;    // one entry per P2P-Stored-Message line (never comma-split)
  std::vector<string_view> subscriptions;  // one entry per P2P-Subscription line (idem)
  bool leaving = false;

  const std::optional<string_view>& operator[](Hdr h) const {
    return single[static_cast<std::size_t>(h)];
  }
};

struct RawMessage {
  string_view start_line;
  string_view header_block;  // header lines, each ending in LF
  string_view body;
  bool folded = false;  // a header line continues on the next (RFC 3261 7.3.1)
};

// Finds the start line, the header block and the body. The only error is
// Truncated: everything up to the blank line must have arrived.
Expected<RawMessage> split_message(string_view text) {
  std::size_t pos = 0;
  // RFC 3261 7.5: CRLFs before the start line are keep-alives.
  while (pos < text.size() && (text[pos] == '\r' || text[pos] == '\n')) ++pos;
  std::size_t nl = text.find('\n', pos);
  if (nl == npos) return DecodeError::Truncated;
  RawMessage m;
  m.start_line = strip_cr(slice(text, pos, nl - pos));
  std::size_t block = nl + 1;
  for (std::size_t cur = block;;) {
    std::size_t end = text.find('\n', cur);
    if (end == npos) return DecodeError::Truncated;
    // Noted on the way rather than in a second pass over the block. White
    // space opening the first header line is not folding: add_header
    // refuses it.
    if (cur > block && is_ws(text[cur])) m.folded = true;
    if (strip_cr(slice(text, cur, end - cur)).empty()) {
      m.header_block = slice(text, block, cur - block);
      m.body = slice(text, end + 1);
      return m;
    }
    cur = end + 1;
  }
}

// Joins continuation lines (RFC 3261 7.3.1) into their header. Rare, so it
// copies only when needed.
std::string unfold(string_view block) {
  std::string out;
  out.reserve(block.size());
  std::size_t pos = 0;
  while (pos < block.size()) {
    std::size_t end = std::min(block.find('\n', pos), block.size());
    string_view l = strip_cr(slice(block, pos, end - pos));
    pos = end + 1;
    if (!l.empty() && is_ws(l.front()) && !out.empty()) {
      out += ' ';
      out.append(trim(l));
    } else {
      if (!out.empty()) out += '\n';
      out.append(l);
    }
  }
  out += '\n';
  return out;
}

MaybeError add_header(Head& head, string_view l) {
  if (is_ws(l.front())) return DecodeError::BadHeaderValue;  // folding before any header
  std::size_t colon = l.find(':');
  if (colon == npos) return DecodeError::BadHeaderValue;
  string_view name = rtrim(slice(l, 0, colon));
  if (!is_token(name)) return DecodeError::BadHeaderValue;
  string_view value = trim(slice(l, colon + 1));
  Hdr h = classify(name);
  switch (h) {
    case Hdr::Other:
      return std::nullopt;
    case Hdr::Via:
      split_values(value, head.vias);
      return std::nullopt;
    case Hdr::Contact:
      split_values(value, head.contacts);
      return std::nullopt;
    case Hdr::StoredMessage:
      head.stored.push_back(value);
      return std::nullopt;
    case Hdr::Subscription:
      head.subscriptions.push_back(value);
      return std::nullopt;
    case Hdr::Reason:
      head.leaving = head.leaving || icontains(value, "leaving");
      return std::nullopt;
    default: {
      auto& slot = head.single[static_cast<std::size_t>(h)];
      // Two To (or Expires...) headers make the message ambiguous.
      if (slot) return DecodeError::BadHeaderValue;
      slot = value;
      return std::nullopt;
    }
  }
}

Expected<Head> collect_headers(string_view block) {
  Head head;
  std::size_t pos = 0;
  while (pos < block.size()) {
    std::size_t end = std::min(block.find('\n', pos), block.size());
    string_view l = strip_cr(slice(block, pos, end - pos));
    pos = end + 1;
    if (l.empty()) continue;
    if (auto e = add_header(head, l)) return *e;
  }
  return head;
}

MaybeError check_content_length(const Head& head, string_view body) {
  const auto& cl = head[Hdr::ContentLength];
  if (!cl) return std::nullopt;
  auto n = parse_uint(*cl);
  if (!n || *n != body.size()) return DecodeError::BadContentLength;
  return std::nullopt;
}

MaybeError check_required(const Head& head) {
  if (head.vias.empty() || !head[Hdr::From] || !head[Hdr::To] || !head[Hdr::CallId] ||
      !head[Hdr::CSeq])
    return DecodeError::MissingHeader;
  return std::nullopt;
}

// ------------------------------------------------------------- envelope

// "SIP/2.0/UDP host:port;branch=...": we keep the sent-by and the branch.
bool read_top_via(string_view v, Envelope& env) {
  v = trim(v);
  std::size_t sp = v.find_first_of(" \t");
  if (sp == npos) return false;
  string_view protocol = slice(v, 0, sp);
  if (protocol.size() < 5 || !iequals(slice(protocol, 0, 4), "SIP/") ||
      !std::all_of(protocol.begin(), protocol.end(), [](char c) { return c == '/' || is_token_char(c); }))
    return false;
  string_view rest = ltrim(slice(v, sp));
  std::size_t end = std::min(rest.find_first_of("; \t"), rest.size());
  string_view sent_by = slice(rest, 0, end);
  // A separator in what we keep would split the Via differently once we
  // write it back out.
  auto plain = [](string_view x) { return x.find_first_of(",<>\"\\") == npos; };
  if (sent_by.empty() || !plain(sent_by)) return false;
  env.via_address = sent_by;
  ParamCursor cur(slice(rest, end));
  string_view name, value;
  while (cur.next(name, value)) {
    if (!iequals(name, "branch")) continue;
    if (!plain(value)) return false;
    env.branch = std::string(value);
  }
  return !cur.bad();
}

// "CSeq: 1 REGISTER"
std::optional<std::uint32_t> read_cseq(string_view v) {
  v = trim(v);
  std::size_t sp = v.find_first_of(" \t");
  if (sp == npos) return std::nullopt;
  if (ltrim(slice(v, sp)) != "REGISTER") return std::nullopt;
  auto n = parse_uint(slice(v, 0, sp), std::numeric_limits<std::uint32_t>::max());
  if (!n) return std::nullopt;
  return static_cast<std::uint32_t>(*n);
}

// From and To as read once: the tag for the envelope, the URI for routing.
struct Parties {
  UriValue from;
  UriValue to;
};

Expected<Parties> read_parties(const Head& head) {
  auto from = read_uri_value(*head[Hdr::From]);
  auto to = read_uri_value(*head[Hdr::To]);
  if (!from || !to) return DecodeError::BadUri;
  return Parties{*from, *to};
}

MaybeError read_envelope(const Head& head, const Parties& parties, Envelope& env) {
  if (!read_top_via(head.vias.front(), env)) return DecodeError::BadHeaderValue;
  env.more_vias.assign(head.vias.begin() + 1, head.vias.end());
  env.call_id = std::string(*head[Hdr::CallId]);
  if (env.call_id.empty()) return DecodeError::BadHeaderValue;
  auto cseq = read_cseq(*head[Hdr::CSeq]);
  if (!cseq) return DecodeError::BadHeaderValue;
  env.cseq = *cseq;
  // RFC 3261 makes a tag a token; anything else could not be written back.
  string_view from_tag = find_param(parties.from.header_params, "tag").value_or("");
  string_view to_tag = find_param(parties.to.header_params, "tag").value_or("");
  if ((!from_tag.empty() && !is_token(from_tag)) || (!to_tag.empty() && !is_token(to_tag)))
    return DecodeError::BadHeaderValue;
  env.from_tag = std::string(from_tag);
  env.to_tag = std::string(to_tag);
  return std::nullopt;
}

// ------------------------------------------------ numeric header values

// Expires is whole seconds on the wire; a value too large for Duration
// saturates instead of overflowing.
Duration seconds_to_duration(std::uint64_t s) {
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<Duration::rep>::max() / 1000);
  if (s > kMax) return Duration::max();
  return Duration(static_cast<Duration::rep>(s) * 1000);
}

std::uint64_t wire_seconds(Duration d) {
  if (d.count() <= 0) return 0;
  auto ms = static_cast<std::uint64_t>(d.count());
  return ms / 1000 + (ms % 1000 != 0 ? 1 : 0);  // rounded up: never expire early
}

// The optional numeric headers, parsed once.
struct Numbers {
  std::optional<std::uint64_t> expires;
  std::optional<std::uint64_t> version;
  std::optional<std::uint64_t> owner;
  std::optional<std::uint64_t> hops;
  std::optional<std::uint64_t> max_forwards;
};

MaybeError read_number(const Head& head, Hdr h, std::uint64_t max,
                       std::optional<std::uint64_t>& out) {
  const auto& v = head[h];
  if (!v) return std::nullopt;
  out = parse_uint(*v, max);
  if (!out) return DecodeError::BadHeaderValue;
  return std::nullopt;
}

Expected<Numbers> read_numbers(const Head& head) {
  constexpr auto kInt = static_cast<std::uint64_t>(std::numeric_limits<int>::max());
  constexpr auto kAny = std::numeric_limits<std::uint64_t>::max();
  Numbers n;
  if (auto e = read_number(head, Hdr::Expires, kAny, n.expires)) return *e;
  if (auto e = read_number(head, Hdr::RecordVersion, kAny, n.version)) return *e;
  if (auto e = read_number(head, Hdr::Owner, kAny, n.owner)) return *e;
  if (auto e = read_number(head, Hdr::Hops, kInt, n.hops)) return *e;
  if (auto e = read_number(head, Hdr::MaxForwards, kInt, n.max_forwards)) return *e;
  return n;
}

// ----------------------------------------------------------- start lines

// "REGISTER sip:<address> SIP/2.0"; the address is the URI's host:port.
MaybeError read_request_line(string_view l, Address& address) {
  std::size_t sp1 = l.find_first_of(" \t");
  if (sp1 == npos) return DecodeError::BadStartLine;
  string_view method = slice(l, 0, sp1);
  string_view rest = ltrim(slice(l, sp1));
  std::size_t sp2 = rest.find_first_of(" \t");
  if (sp2 == npos) return DecodeError::BadStartLine;
  string_view uri = slice(rest, 0, sp2);
  string_view version = trim(slice(rest, sp2));
  if (!iequals(version, "SIP/2.0") || !is_token(method)) return DecodeError::BadStartLine;
  auto u = split_sip_uri(uri);
  if (!u) return DecodeError::BadStartLine;
  // Methods are case-sensitive (RFC 3261 7.1).
  if (method != "REGISTER") return DecodeError::NotRegister;
  address = u->hostport;
  return std::nullopt;
}

// "SIP/2.0 <3-digit code> <reason>"; the phrase is not interpreted.
Expected<int> read_status_line(string_view l) {
  std::size_t sp = l.find_first_of(" \t");
  if (sp == npos || !iequals(slice(l, 0, sp), "SIP/2.0")) return DecodeError::BadStartLine;
  string_view rest = ltrim(slice(l, sp));
  if (rest.size() < 3 || !std::all_of(rest.begin(), rest.begin() + 3, is_digit) ||
      (rest.size() > 3 && !is_ws(rest[3])))
    return DecodeError::BadStartLine;
  int code = (rest[0] - '0') * 100 + (rest[1] - '0') * 10 + (rest[2] - '0');
  if (code < 100 || code > 699) return DecodeError::BadStartLine;
  return code;
}


// -------------------------------------------------------------- encoding

// A Transfer of one record is written as the report writes it, about the
// record's AOR; several go in a body (see append_batch).
bool is_batch(const Request& r) {
  return r.kind == Kind::Transfer && (r.records.size() != 1 || r.to.type == Target::Type::Node);
}

// What To names: a Store, or a Transfer of one record, is about the
// record's AOR; a batch is addressed to the receiving node.
std::string request_to_uri(const Codec& codec, const Request& r) {
  if (r.kind == Kind::Store && r.record) return r.record->aor;
  if (r.kind == Kind::Transfer && !is_batch(r)) return r.records.front().record.aor;
  return codec.target_uri(r.to);
}

// A Store is the report's user REGISTER (3.14): From = To = the AOR.
std::string request_from_uri(const Codec& codec, const Request& r) {
  if (r.kind == Kind::Store) return request_to_uri(codec, r);
  return codec.node_uri(r.from);
}

void append_vias(std::string& out, const Envelope& env) {
  out.append("Via: SIP/2.0/UDP "sv);
  out.append(env.via_address);
  if (!env.branch.empty()) {
    out.append(";branch="sv);
    out.append(env.branch);
  }
  out.append("\r\n"sv);
  for (const auto& v : env.more_vias) line(out, "Via: ", v);
}

void append_party(std::string& out, string_view header, string_view uri, string_view tag) {
  out.append(header);
  out.append(": <"sv);
  out.append(uri);
  out += '>';
  if (!tag.empty()) {
    out.append(";tag="sv);
    out.append(tag);
  }
  out.append("\r\n"sv);
}

void append_dialog(std::string& out, const Envelope& env) {
  line(out, "Call-ID: ", env.call_id);
  line(out, "CSeq: ", Num(std::uint64_t{env.cseq}), " REGISTER");
}

void append_contacts(std::string& out, const std::vector<Contact>& contacts, const Ring& ring) {
  for (std::size_t i = 0; i < contacts.size(); ++i) {
    out.append("Contact: "sv);
    append_contact_value(out, contacts[i], i, contacts.size(), ring);
    out.append("\r\n"sv);
  }
}

void append_record_headers(std::string& out, const Record& rec, Duration ttl) {
  if (rec.kind == RecordKind::Credential) {
    // One value, in a header of its own: it is not a place to reach anyone.
    line(out, "P2P-Record-Kind: credential");
    if (!rec.bindings.empty()) line(out, "P2P-Credential: ", rec.bindings.front());
  } else if (rec.kind == RecordKind::Mailbox) {
    // One header line per kept MESSAGE, oldest first (their order is the
    // order of delivery).
    line(out, "P2P-Record-Kind: mailbox");
    for (const auto& m : rec.bindings) line(out, "P2P-Stored-Message: ", m);
  } else if (rec.kind == RecordKind::Subscriptions) {
    line(out, "P2P-Record-Kind: subscriptions");
    for (const auto& v : rec.bindings) line(out, "P2P-Subscription: ", v);
  } else {
    for (const auto& b : rec.bindings) line(out, "Contact: ", b);
  }
  line(out, "Expires: ", Num(wire_seconds(ttl)));
  line(out, "P2P-Record-Version: ", Num(rec.version));
}

// The body of a batched Transfer: one block of header lines per record, in
// the same headers a single Transfer uses, blocks separated by a blank
// line. The To line names the record's AOR.
constexpr string_view kRecordsType = Codec::kRecordsContentType;

std::string batch_body(const std::vector<CarriedRecord>& records) {
  std::string body;
  std::size_t n = 0;
  for (const auto& c : records) {
    n += c.record.aor.size() + 64;
    for (const auto& b : c.record.bindings) n += b.size() + 11;
  }
  body.reserve(n);
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (i > 0) body.append("\r\n"sv);
    line(body, "To: <", records[i].record.aor, ">");
    append_record_headers(body, records[i].record, records[i].ttl);
  }
  return body;
}

void append_batch(std::string& out, const std::vector<CarriedRecord>& records) {
  const std::string body = batch_body(records);
  line(out, "Content-Type: ", kRecordsType);
  line(out, "Content-Length: ", Num(std::uint64_t{body.size()}));
  out.append("\r\n"sv);
  out.append(body);
}

// P2P-Record-Kind: absent or "bindings", or "credential".
Expected<RecordKind> read_record_kind(const Head& head) {
  const auto& v = head[Hdr::RecordKind];
  if (!v || iequals(*v, "bindings")) return RecordKind::Bindings;
  if (iequals(*v, "credential")) return RecordKind::Credential;
  if (iequals(*v, "mailbox")) return RecordKind::Mailbox;
  if (iequals(*v, "subscriptions")) return RecordKind::Subscriptions;
  return DecodeError::BadHeaderValue;
}

// A record's values: the Contacts given, the one P2P-Credential, or the
// P2P-Stored-Message lines.
std::vector<std::string> record_values(RecordKind kind, const Head& head,
                                       std::vector<std::string> contacts) {
  if (kind == RecordKind::Mailbox) return {head.stored.begin(), head.stored.end()};
  if (kind == RecordKind::Subscriptions) return {head.subscriptions.begin(), head.subscriptions.end()};
  if (kind != RecordKind::Credential) return contacts;
  if (!head[Hdr::Credential]) return {};
  return {std::string(*head[Hdr::Credential])};
}

std::size_t size_hint(const Envelope& env, std::size_t contacts) {
  std::size_t n = 256 + env.via_address.size() + env.branch.size() + env.call_id.size() +
                  env.from_tag.size() + env.to_tag.size() + contacts * 96;
  for (const auto& v : env.more_vias) n += v.size() + 7;
  return n;
}

}  // namespace

// ====================================================================== API

const char* decode_error_name(DecodeError e) {
  switch (e) {
    case DecodeError::Truncated: return "truncated";
    case DecodeError::BadStartLine: return "bad-start-line";
    case DecodeError::NotRegister: return "not-register";
    case DecodeError::MissingHeader: return "missing-header";
    case DecodeError::BadUri: return "bad-uri";
    case DecodeError::BadId: return "bad-id";
    case DecodeError::BadHeaderValue: return "bad-header-value";
    case DecodeError::BadContentLength: return "bad-content-length";
  }
  return "unknown";
}

Codec::Codec(const Ring& ring, std::string overlay_domain)
    : ring_(ring), domain_(std::move(overlay_domain)) {}

std::string Codec::records_body(const std::vector<CarriedRecord>& records) { return batch_body(records); }

std::string Codec::record_headers(const Record& rec, Duration ttl) {
  std::string out;
  append_record_headers(out, rec, ttl);
  return out;
}

std::string Codec::node_uri(const NodeRef& n) const {
  std::string s;
  s.reserve(n.address.size() + 56);
  append_node_uri(s, n, ring_);
  return s;
}

std::string Codec::target_uri(const Target& t) const {
  switch (t.type) {
    case Target::Type::Node:
      return node_uri(t.as_node());
    case Target::Type::Key:
      return "sip:" + ring_.format(t.id) + "@" + domain_;
    case Target::Type::User:
      break;
  }
  return t.text;
}

std::optional<Target> Codec::parse_target(std::string_view uri) const {
  auto t = read_target(uri, ring_, domain_);
  if (!t) return std::nullopt;
  return std::move(*t);
}

std::optional<NodeRef> Codec::parse_node_uri(std::string_view uri) const {
  auto v = read_uri_value(uri);
  if (!v || !v->node) return std::nullopt;
  auto n = node_of(v->uri, ring_);
  if (!n) return std::nullopt;
  return std::move(*n);
}

std::optional<std::string> Codec::canonical_aor(std::string_view uri) {
  auto v = read_uri_value(uri);
  if (!v) return std::nullopt;
  return canonical_of(v->uri);
}

std::string Codec::contact_value(const Contact& c, std::size_t index, std::size_t count) const {
  std::string s;
  s.reserve(c.node.address.size() + (c.predecessor ? c.predecessor->address.size() : 0) + 112);
  append_contact_value(s, c, index, count, ring_);
  return s;
}

std::optional<std::vector<Contact>> Codec::parse_contacts(
    const std::vector<std::string>& values) const {
  std::vector<string_view> split;
  split.reserve(values.size());
  for (const auto& v : values) split_values(v, split);
  auto contacts = read_node_contacts(split, ring_);
  if (!contacts) return std::nullopt;
  return std::move(*contacts);
}

// --------------------------------------------------------------- encode

std::string Codec::encode(const Request& req, std::string_view address,
                          const Envelope& env) const {
  std::string out;
  encode_into(out, req, address, env);
  return out;
}

std::string Codec::encode(const Response& resp, const Request& answered,
                          const Envelope& env) const {
  std::string out;
  encode_into(out, resp, answered, env);
  return out;
}

void Codec::encode_into(std::string& out, const Request& req, std::string_view address,
                        const Envelope& env) const {
  std::size_t n = req.contacts.size() + (req.record ? req.record->bindings.size() : 0);
  for (const auto& c : req.records) n += c.record.bindings.size() + 2;
  out.clear();
  out.reserve(size_hint(env, n));
  line(out, "REGISTER sip:", address, " SIP/2.0");
  append_vias(out, env);
  line(out, "Max-Forwards: ", Num(req.max_forwards));
  append_party(out, "From", request_from_uri(*this, req), env.from_tag);
  append_party(out, "To", request_to_uri(*this, req), {});
  append_dialog(out, env);
  switch (req.kind) {
    case Kind::Query:
    case Kind::Update:
      // A Contact is what makes a REGISTER an Update, so a Query has none.
      if (req.kind == Kind::Update) append_contacts(out, req.contacts, ring_);
      if (req.want != RecordKind::Bindings) line(out, "P2P-Record-Kind: ", record_kind_name(req.want));
      // Expires: 0 would turn an Update into an Unregister, so only a real
      // lifetime is written.
      if (auto s = wire_seconds(req.ttl); s > 0) line(out, "Expires: ", Num(s));
      break;
    case Kind::Unregister:
      append_contacts(out, req.contacts, ring_);
      line(out, "Expires: 0");
      break;
    case Kind::Transfer:
      if (!is_batch(req)) append_record_headers(out, req.records.front().record, req.records.front().ttl);
      break;
    case Kind::Store:
      if (req.record) append_record_headers(out, *req.record, req.ttl);
      else line(out, "Expires: ", Num(wire_seconds(req.ttl)));
      break;
    case Kind::List:
      line(out, "P2P-List: ", req.list_after ? ring_.hex(*req.list_after) : std::string("*"));
      if (req.want != RecordKind::Bindings) line(out, "P2P-Record-Kind: ", record_kind_name(req.want));
      break;
  }
  if (req.leaving) line(out, "Reason: SIP;text=\"leaving\"");
  if (req.owner_hop) line(out, "P2P-Owner: 1");
  if (is_batch(req)) {
    append_batch(out, req.records);
    return;
  }
  line(out, "Content-Length: 0");
  out.append("\r\n"sv);
}

void Codec::encode_into(std::string& out, const Response& resp, const Request& answered,
                        const Envelope& env) const {
  std::size_t n = resp.contacts.size() + (resp.record ? resp.record->bindings.size() : 0);
  out.clear();
  out.reserve(size_hint(env, n));
  line(out, "SIP/2.0 ", Num(resp.status), " ", reason_phrase(resp.status));
  append_vias(out, env);
  append_party(out, "From", request_from_uri(*this, answered), env.from_tag);
  append_party(out, "To", request_to_uri(*this, answered), env.to_tag);
  append_dialog(out, env);
  append_contacts(out, resp.contacts, ring_);
  if (resp.record) {
    append_record_headers(out, *resp.record, resp.ttl);
  } else if (auto s = wire_seconds(resp.ttl); s > 0) {
    line(out, "Expires: ", Num(s));
  }
  if (resp.hops > 0) line(out, "P2P-Hops: ", Num(resp.hops));
  if (resp.list_next) line(out, "P2P-List: ", ring_.hex(*resp.list_next));
  if (!resp.records.empty()) {
    append_batch(out, resp.records);
    return;
  }
  line(out, "Content-Length: 0");
  out.append("\r\n"sv);
}

// --------------------------------------------------------------- decode

namespace {

// The steps shared by requests and responses, up to the start line, which
// the caller interprets before the headers so that a response handed to
// decode_request fails as bad-start-line rather than on some header.
struct Frame {
  string_view start_line;
  string_view raw_headers;
  string_view body;
  bool folded = false;
  std::string unfolded;  // the header block when folding had to be undone

  // Computed on use rather than stored: a view into `unfolded` would dangle
  // once the Frame moves and a short string moves its inline buffer.
  string_view header_block() const { return folded ? string_view(unfolded) : raw_headers; }
};

Expected<Frame> frame_message(string_view text) {
  auto raw = split_message(text);
  if (!raw) return raw.error();
  Frame f;
  f.start_line = raw->start_line;
  f.raw_headers = raw->header_block;
  f.body = raw->body;
  if (raw->folded) {
    f.folded = true;
    f.unfolded = unfold(f.raw_headers);
  }
  return f;
}

// Headers, Content-Length, required headers, From/To and the envelope.
struct Common {
  Head head;
  Parties parties;
  Numbers numbers;
};

Expected<Common> read_common(const Frame& f, Envelope& env) {
  auto head = collect_headers(f.header_block());
  if (!head) return head.error();
  if (auto e = check_content_length(*head, f.body)) return *e;
  if (auto e = check_required(*head)) return *e;
  auto parties = read_parties(*head);
  if (!parties) return parties.error();
  if (auto e = read_envelope(*head, *parties, env)) return *e;
  auto numbers = read_numbers(*head);
  if (!numbers) return numbers.error();
  return Common{std::move(*head), std::move(*parties), *numbers};
}

std::vector<std::string> owned(const std::vector<string_view>& views) {
  return {views.begin(), views.end()};
}

// One record block of a batch body (see append_batch).
Expected<CarriedRecord> read_batch_record(string_view block, const Ring& ring, string_view domain) {
  auto head = collect_headers(block);
  if (!head) return head.error();
  if (!(*head)[Hdr::To]) return DecodeError::MissingHeader;
  auto uv = read_uri_value(*(*head)[Hdr::To]);
  if (!uv) return DecodeError::BadUri;
  auto to = target_of(*uv, ring, domain);
  if (!to) return to.error();
  if (to->type != Target::Type::User) return DecodeError::BadUri;
  auto n = read_numbers(*head);
  if (!n) return n.error();
  auto kind = read_record_kind(*head);
  if (!kind) return kind.error();
  Record rec{to->id, std::move(to->text), record_values(*kind, *head, owned(head->contacts)),
             n->version.value_or(0), *kind};
  return CarriedRecord{std::move(rec), seconds_to_duration(n->expires.value_or(0))};
}

// A batch body: blocks of header lines separated by blank lines.
Expected<std::vector<CarriedRecord>> read_batch(string_view body, const Ring& ring, string_view domain) {
  std::vector<CarriedRecord> out;
  std::size_t pos = 0, block = 0;
  auto finish = [&](std::size_t end) -> MaybeError {
    if (end > block) {
      auto r = read_batch_record(slice(body, block, end - block), ring, domain);
      if (!r) return r.error();
      out.push_back(std::move(*r));
    }
    return std::nullopt;
  };
  while (pos < body.size()) {
    std::size_t end = std::min(body.find('\n', pos), body.size());
    const bool blank = strip_cr(slice(body, pos, end - pos)).empty();
    if (blank) {
      if (auto e = finish(pos)) return *e;
      block = end + 1;
    }
    pos = end + 1;
  }
  if (auto e = finish(body.size())) return *e;
  return out;
}

// P2P-List's cursor: a key of the ring, in hex.
Expected<Id> read_list_cursor(string_view v, const Ring& ring) {
  auto id = Id::from_hex(trim(v));
  if (!id || !ring.valid(*id)) return DecodeError::BadId;
  return *id;
}

// The decision table of codec.h / the brief: what kind of REGISTER is this?
Expected<Kind> classify_request(const Target& to, const Target& from, const Head& head,
                                const Numbers& n) {
  bool contact = !head.contacts.empty();
  const bool batch = head[Hdr::ContentType] && iequals(*head[Hdr::ContentType], kRecordsType);
  if (head[Hdr::List]) {
    // Only a node asks another node for its records.
    if (to.type != Target::Type::Node || from.type != Target::Type::Node || contact || batch)
      return DecodeError::BadUri;
    return Kind::List;
  }
  switch (to.type) {
    case Target::Type::Key:
      return Kind::Query;
    case Target::Type::Node:
      if (batch) return from.type == Target::Type::Node ? Expected<Kind>(Kind::Transfer) : DecodeError::BadUri;
      if (!contact) return Kind::Query;
      return n.expires == std::uint64_t{0} ? Kind::Unregister : Kind::Update;
    case Target::Type::User:
      if (!contact && !n.version) return Kind::Query;
      if (from.type == Target::Type::User) return Kind::Store;
      if (from.type == Target::Type::Node) return Kind::Transfer;
      return DecodeError::BadUri;
  }
  return DecodeError::BadUri;
}

}  // namespace

std::variant<Decoded<Request>, DecodeError> Codec::decode_request(std::string_view text) const {
  auto frame = frame_message(text);
  if (!frame) return frame.error();
  Decoded<Request> out;
  if (auto e = read_request_line(frame->start_line, out.request_address)) return *e;
  auto common = read_common(*frame, out.envelope);
  if (!common) return common.error();
  const Head& head = common->head;
  const Numbers& n = common->numbers;

  auto to = target_of(common->parties.to, ring_, domain_);
  if (!to) return to.error();
  auto from = target_of(common->parties.from, ring_, domain_);
  if (!from) return from.error();
  auto kind = classify_request(*to, *from, head, n);
  if (!kind) return kind.error();
  auto record_kind = read_record_kind(head);
  if (!record_kind) return record_kind.error();

  Request& req = out.message;
  req.kind = *kind;
  if (req.kind != Kind::Store) {
    // Every other kind is sent by a node on its own behalf.
    if (from->type != Target::Type::Node) return DecodeError::BadUri;
    req.from = from->as_node();
  }
  req.to = std::move(*to);
  if (req.kind == Kind::Update || req.kind == Kind::Unregister) {
    auto contacts = read_node_contacts(head.contacts, ring_);
    if (!contacts) return contacts.error();
    req.contacts = std::move(*contacts);
  }
  if (req.kind == Kind::Transfer && req.to.type == Target::Type::Node) {
    auto records = read_batch(frame->body, ring_, domain_);
    if (!records) return records.error();
    req.records = std::move(*records);
  } else if (req.kind == Kind::Transfer) {
    req.records.push_back({Record{req.to.id, req.to.text, record_values(*record_kind, head, owned(head.contacts)),
                                  n.version.value_or(0), *record_kind},
                           seconds_to_duration(n.expires.value_or(0))});
  } else if (req.kind == Kind::Store) {
    req.record = Record{req.to.id, req.to.text, record_values(*record_kind, head, owned(head.contacts)),
                        n.version.value_or(0), *record_kind};
  }
  if (req.kind == Kind::Query && req.to.type == Target::Type::User) req.want = *record_kind;
  if (req.kind == Kind::List) {
    req.want = *record_kind;
    if (*head[Hdr::List] != "*") {
      auto after = read_list_cursor(*head[Hdr::List], ring_);
      if (!after) return after.error();
      req.list_after = *after;
    }
  }
  if (n.expires && req.kind != Kind::Transfer) req.ttl = seconds_to_duration(*n.expires);
  req.leaving = head.leaving;
  req.owner_hop = n.owner.value_or(0) != 0;
  if (n.max_forwards) req.max_forwards = static_cast<int>(*n.max_forwards);
  return out;
}

std::variant<Decoded<Response>, DecodeError> Codec::decode_response(std::string_view text) const {
  auto frame = frame_message(text);
  if (!frame) return frame.error();
  auto code = read_status_line(frame->start_line);
  if (!code) return code.error();
  Decoded<Response> out;
  auto common = read_common(*frame, out.envelope);
  if (!common) return common.error();
  const Head& head = common->head;
  const Numbers& n = common->numbers;

  auto to = target_of(common->parties.to, ring_, domain_);
  if (!to) return to.error();

  Response& resp = out.message;
  resp.status = *code;
  // Node contacts carry `node`; everything else is a record binding, which
  // dht/ passes on verbatim without interpreting it.
  std::vector<RankedContact> ranked;
  std::vector<std::string> bindings;
  for (string_view v : head.contacts) {
    auto uv = read_uri_value(v);
    if (uv && uv->node) {
      auto rc = read_node_contact(*uv, ring_);
      if (!rc) return rc.error();
      ranked.push_back(std::move(*rc));
    } else {
      bindings.emplace_back(v);
    }
  }
  resp.contacts = by_preference(ranked);
  auto record_kind = read_record_kind(head);
  if (!record_kind) return record_kind.error();
  bindings = record_values(*record_kind, head, std::move(bindings));
  if (to->type == Target::Type::User && (n.version || !bindings.empty())) {
    resp.record = Record{to->id, to->text, std::move(bindings), n.version.value_or(0), *record_kind};
  }
  if (n.expires) resp.ttl = seconds_to_duration(*n.expires);
  if (n.hops) resp.hops = static_cast<int>(*n.hops);
  if (head[Hdr::List]) {
    auto next = read_list_cursor(*head[Hdr::List], ring_);
    if (!next) return next.error();
    resp.list_next = *next;
  }
  if (head[Hdr::ContentType] && iequals(*head[Hdr::ContentType], kRecordsType)) {
    auto records = read_batch(frame->body, ring_, domain_);
    if (!records) return records.error();
    resp.records = std::move(*records);
  }
  return out;
}

}  // namespace sippeer::dht
