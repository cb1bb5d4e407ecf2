// See sip_parser.h for what is repaired and why. The class is a clone of
// Sofia's default SIP class in which two header classes (the request line
// and Via) are copies of Sofia's with a parse function that wraps Sofia's
// own. Copies keep hc_hash, which is how Sofia tells header kinds apart.
//
// During message parsing Sofia passes the message itself as the memory
// home (msg_parser.c: hc_parse(msg_home(msg), ...), msg_home(m) == m), so a
// repair can flag the message (MSG_FLG_ERROR: nta answers 400 to any
// request with an error and a usable Via) and read its source address.
#include "adaptor/sip/sip_parser.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_buffer.h>
#include <sofia-sip/msg_mclass.h>
#include <sofia-sip/msg_parser.h>

namespace sippeer::adaptor {

namespace {

msg_t* message_of(su_home_t* home) { return reinterpret_cast<msg_t*>(home); }

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// RFC 3261 25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" /
// "+" / "`" / "'" / "~"). Sofia's method parser takes fewer.
// (strchr finds the terminating NUL too: without the c != '\0' test a
// request line ran past its end, a heap over-read found by fuzz_sip.)
bool is_token_char(char c) {
  return c != '\0' && (std::isalnum(static_cast<unsigned char>(c)) || std::strchr("-.!%*_+`'~", c) != nullptr);
}

// ------------------------------------------------------------ NUL bytes

// RFC 3261 lets a quoted-pair carry a NUL byte (RFC 4475 3.1.1.2 has one in
// its To). Sofia finds the end of a header with strcspn, which stops at the
// NUL; the next header then starts at the NUL, extracts nothing, and a
// stream (TCP, TLS) waits for more data until the connection closes. So
// when the first line is parsed, every NUL already received in the header
// section is turned into a space in the receive buffer, before Sofia scans
// the headers. The body is framed by Content-Length and may hold NULs.
//
// During parsing Sofia has consumed the buffer up to the line being parsed
// (msg_buf_committed_data is where it starts). A NUL that arrives in a
// later TCP segment than the first line is not reached: that connection
// still waits until it closes (not repaired, and no phone sends one).
void blank_header_nuls(su_home_t* home) {
  msg_t* msg = message_of(home);
  auto* data = static_cast<char*>(msg_buf_committed_data(msg));
  const std::size_t size = msg_buf_committed(msg);
  // Every request and answer comes through here: one memchr, and the
  // rest only for the rare message that has a NUL.
  if (!data || size == 0 || !std::memchr(data, '\0', size)) return;
  const std::string_view text(data, size);
  std::size_t end = text.find("\r\n\r\n");
  const std::size_t lf = text.find("\n\n");
  if (lf < end) end = lf;
  if (end == std::string_view::npos) end = size;
  std::replace(data, data + end, '\0', ' ');
}

// ------------------------------------------------------------ request line

// Method SP Request-URI SP SIP-Version, read by RFC 3261's grammar where
// Sofia's refuses it. LWS inside the Request-URI (RFC 4475 3.1.2.8) is
// malformed: the URI is read up to the first LWS and the message flagged,
// so nta answers 400 instead of dropping it as garbage.
issize_t parse_request_leniently(su_home_t* home, sip_request_t* rq, char* s) {
  char* p = s;
  while (is_token_char(*p)) ++p;
  if (p == s || *p != ' ') return -1;
  *p++ = '\0';
  const char* method = s;
  while (*p == ' ') ++p;

  char* end = p + std::strlen(p);
  while (end > p && is_ws(end[-1])) *--end = '\0';
  char* version = end;
  while (version > p && !is_ws(version[-1])) --version;
  if (version == p || !std::string_view(version).starts_with("SIP/")) return -1;
  char* uri_end = version;
  while (uri_end > p && is_ws(uri_end[-1])) --uri_end;
  *uri_end = '\0';

  bool malformed = false;
  for (char* q = p; q < uri_end; ++q) {
    if (is_ws(*q)) {
      *q = '\0';
      malformed = true;
      break;
    }
  }
  if (!*p || url_d(rq->rq_url, p) < 0) return -1;
  // sip_method_code() also applies Sofia's narrower token rule.
  const sip_method_t code = sip_method_code(method);
  rq->rq_method = code == sip_method_invalid ? sip_method_unknown : code;
  rq->rq_method_name = method;
  rq->rq_version = version;
  if (malformed) msg_set_flags(message_of(home), MSG_FLG_ERROR);
  return 0;
}

issize_t parse_request_line(su_home_t* home, msg_header_t* h, char* s, isize_t slen) {
  blank_header_nuls(home);
  // Sofia's parser writes into s; keep the text for a second reading. On
  // the stack: this runs for every request, and the copy is needed only
  // when Sofia refuses the line (a second reading then keeps pointers into
  // it, so it moves into the message's home).
  const auto n = static_cast<std::size_t>(slen);
  char local[512];
  char* copy = n < sizeof local ? local : static_cast<char*>(su_alloc(home, slen + 1));
  if (!copy) return -1;
  std::memcpy(copy, s, n);
  copy[n] = '\0';
  // nta keeps each line as received and sends it on unchanged (daemon.cpp,
  // MSG_DO_EXTRACT_COPY). Sofia also takes extra spaces or tabs between
  // the parts (RFC 4475 3.1.2.9), which a proxy should not pass on: such a
  // line is printed anew when the request is forwarded.
  const std::string_view line(copy, n);
  const bool canonical = std::count(line.begin(), line.end(), ' ') == 2 && line.find('\t') == std::string_view::npos;
  if (sip_request_class->hc_parse(home, h, s, slen) >= 0) {
    if (copy != local) su_free(home, copy);
    if (!canonical) h->sh_data = nullptr, h->sh_len = 0;
    return 0;
  }
  if (copy == local && !(copy = su_strdup(home, local))) return -1;
  auto* rq = reinterpret_cast<sip_request_t*>(h);
  rq->rq_method = sip_method_invalid;
  rq->rq_method_name = nullptr;
  std::memset(rq->rq_url, 0, sizeof rq->rq_url);
  rq->rq_version = nullptr;
  const issize_t r = parse_request_leniently(home, rq, copy);
  if (r >= 0 && !canonical) h->sh_data = nullptr, h->sh_len = 0;
  return r;
}

issize_t parse_status_line(su_home_t* home, msg_header_t* h, char* s, isize_t slen) {
  blank_header_nuls(home);
  return sip_status_class->hc_parse(home, h, s, slen);
}

// ------------------------------------------------------------------- Via

// Empty parameters or list elements: ";;", ";,", ",,", or a trailing ";"
// or "," (RFC 4475 3.1.2.1 "Extraneous Header Field Separators").
bool has_empty_part(std::string_view v) {
  char last = ',';  // as if a list element had just begun
  for (char c : v) {
    if (is_ws(c)) continue;
    if ((c == ';' || c == ',') && (last == ';' || last == ',')) return true;
    last = c;
  }
  return last == ';' || last == ',';
}

std::string without_empty_parts(std::string_view v) {
  auto trim = [](std::string_view x) {
    while (!x.empty() && is_ws(x.front())) x.remove_prefix(1);
    while (!x.empty() && is_ws(x.back())) x.remove_suffix(1);
    return x;
  };
  std::string out;
  std::size_t start = 0;
  while (start <= v.size()) {
    std::size_t comma = v.find(',', start);
    if (comma == std::string_view::npos) comma = v.size();
    std::string element;
    std::size_t p = start;
    while (p <= comma) {
      std::size_t semi = v.substr(0, comma).find(';', p);
      if (semi == std::string_view::npos) semi = comma;
      std::string_view part = trim(v.substr(p, semi - p));
      if (!part.empty()) {
        if (!element.empty()) element += ';';
        element += part;
      }
      p = semi + 1;
    }
    if (!element.empty()) {
      if (!out.empty()) out += ", ";
      out += element;
    }
    start = comma + 1;
  }
  return out;
}

// A Via of another SIP version (RFC 4475 3.1.2.16): nta answers 505 before
// its Via check adds received=, and would send it to the Via host. Add
// received and rport here, from the message's source address.
void address_foreign_version(su_home_t* home, sip_via_t* v) {
  for (; v; v = v->v_next) {
    if (!v->v_protocol || strncasecmp(v->v_protocol, "SIP/2.0/", 8) == 0) continue;
    su_addrinfo_t* ai = msg_addrinfo(message_of(home));
    if (!ai || !ai->ai_addr || ai->ai_addr->sa_family != AF_INET) return;
    const auto* sin = reinterpret_cast<const sockaddr_in*>(ai->ai_addr);
    char ip[INET_ADDRSTRLEN];
    if (!inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip)) return;
    const std::string received = std::string("received=") + ip;
    const std::string rport = "rport=" + std::to_string(ntohs(sin->sin_port));
    msg_header_replace_param(home, v->v_common, su_strdup(home, received.c_str()));
    msg_header_replace_param(home, v->v_common, su_strdup(home, rport.c_str()));
    return;  // only the top Via routes the answer
  }
}

issize_t parse_via(su_home_t* home, msg_header_t* h, char* s, isize_t slen) {
  // The text ends at a NUL, and only that is certain: for the second and
  // later values of one line ("Via: a, b") Sofia passes the length of the
  // whole line from a later start (msg_parse_next_field), which would read
  // past the end of a header copied on its own (MSG_DO_EXTRACT_COPY).
  slen = static_cast<isize_t>(strnlen(s, static_cast<std::size_t>(slen)));
  if (!has_empty_part(std::string_view(s, static_cast<std::size_t>(slen)))) {
    const issize_t r = sip_via_class->hc_parse(home, h, s, slen);
    if (r >= 0) address_foreign_version(home, reinterpret_cast<sip_via_t*>(h));
    return r;
  }
  const std::string cleaned = without_empty_parts(std::string_view(s, static_cast<std::size_t>(slen)));
  char* b = su_strdup(home, cleaned.c_str());
  if (!b || !*b) return -1;
  if (sip_via_class->hc_parse(home, h, b, static_cast<isize_t>(cleaned.size())) < 0) return -1;
  msg_set_flags(message_of(home), MSG_FLG_ERROR);
  return 0;
}

// ------------------------------------------------------------------ CSeq

// CSeq = 1*DIGIT LWS Method (RFC 3261 20.16), where Method is any token;
// Sofia's CSeq parser takes the same narrower token rule as its method
// parser, and nta answers "400 Bad CSeq Header" to RFC 4475 3.1.1.2.
issize_t parse_cseq(su_home_t* home, msg_header_t* h, char* s, isize_t slen) {
  const auto n = static_cast<std::size_t>(strnlen(s, static_cast<std::size_t>(slen)));
  const std::string text(s, n);
  if (sip_cseq_class->hc_parse(home, h, s, slen) >= 0) return 0;
  auto* cs = reinterpret_cast<sip_cseq_t*>(h);
  std::size_t p = 0;
  std::uint64_t seq = 0;
  while (p < n && std::isdigit(static_cast<unsigned char>(text[p])) && seq <= 0xffffffffu)
    seq = seq * 10 + static_cast<std::uint64_t>(text[p++] - '0');
  if (p == 0 || p > 10 || seq > 0xffffffffu || p == n || !is_ws(text[p])) return -1;
  while (p < n && is_ws(text[p])) ++p;
  const std::size_t start = p;
  while (p < n && is_token_char(text[p])) ++p;
  std::size_t end = p;
  while (p < n && is_ws(text[p])) ++p;
  if (end == start || p != n) return -1;
  char* method = su_strndup(home, text.data() + start, static_cast<isize_t>(end - start));
  if (!method) return -1;
  cs->cs_seq = static_cast<std::uint32_t>(seq);
  const sip_method_t code = sip_method_code(method);
  cs->cs_method = code == sip_method_invalid ? sip_method_unknown : code;
  cs->cs_method_name = method;
  return 0;
}

// Puts `copy` in the slot where parsing looks up the named header, and
// Sofia's own class further down the same hash chain.
//
// Named headers are looked up two ways: by name when parsing
// (msg_find_hclass, the first entry in the hash chain with that name) and
// by class pointer when a header is added to a message
// (msg_hclass_offset), and nta adds headers of Sofia's own classes. So the
// copy takes the original's slot, where parsing finds it first, and the
// original moves further down the same chain, where pointer lookups
// still find it. Both point at the same field of sip_t.
bool replace_named(msg_mclass_t* mc, const char* name, msg_hclass_t* original, msg_hclass_t* copy) {
  auto* slot = const_cast<msg_href_t*>(msg_find_hclass(mc, name, nullptr));
  if (!slot || slot->hr_class != original) return false;
  const msg_href_t saved = *slot;
  slot->hr_class = copy;
  if (msg_mclass_insert(mc, &saved) < 0) {
    slot->hr_class = original;  // no room: keep Sofia's parser
    return false;
  }
  return true;
}

struct msg_hclass_s request_class;
struct msg_hclass_s status_class;
struct msg_hclass_s via_class;
struct msg_hclass_s cseq_class;
msg_mclass_t* mclass = nullptr;

void build() {
  request_class = *sip_request_class;
  request_class.hc_parse = &parse_request_line;
  status_class = *sip_status_class;
  status_class.hc_parse = &parse_status_line;
  via_class = *sip_via_class;
  via_class.hc_parse = &parse_via;

  mclass = msg_mclass_clone(sip_default_mclass(), 0, 0);
  if (!mclass) return;
  // The request line is looked up by hash (msg_hclass_offset), so the copy
  // can simply take its place.
  mclass->mc_request->hr_class = &request_class;
  mclass->mc_status->hr_class = &status_class;

  cseq_class = *sip_cseq_class;
  cseq_class.hc_parse = &parse_cseq;
  replace_named(mclass, "CSeq:", sip_cseq_class, &cseq_class);
  if (!replace_named(mclass, "Via:", sip_via_class, &via_class)) return;
  if (mclass->mc_short) {
    // Compact form "v:" (RFC 3261 7.3.3); the clone has its own copy of the
    // short-form table (msg_mclass_insert above wrote the original back).
    auto* shorts = const_cast<msg_href_t*>(mclass->mc_short);
    if (shorts['v' - 'a'].hr_class == sip_via_class) shorts['v' - 'a'].hr_class = &via_class;
  }
}

}  // namespace

msg_mclass_t const* sip_message_class() {
  static std::once_flag once;
  std::call_once(once, build);
  return mclass ? mclass : sip_default_mclass();
}

}  // namespace sippeer::adaptor
