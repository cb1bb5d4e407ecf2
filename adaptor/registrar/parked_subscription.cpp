#include "adaptor/registrar/parked_subscription.h"

#include <algorithm>
#include <cctype>

#include "adaptor/registrar/mailbox.h"  // base64, record_field
#include "adaptor/xml.h"

namespace sippeer::adaptor {

namespace {

std::optional<std::uint64_t> number(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

}  // namespace

std::string encode_parked(const ParkedSubscription& s) {
  return "id=" + s.id + ";event=" + base64_encode(s.event) + ";exp=" + std::to_string(s.expires_at) +
         ";cseq=" + std::to_string(s.cseq) + ";state=" + (s.refused ? "refused" : "pending") +
         ";ruri=" + base64_encode(s.request_uri) +
         ";to=" + base64_encode(s.to) + ";from=" + base64_encode(s.from) + ";callid=" + base64_encode(s.call_id) +
         ";route=" + base64_encode(s.route);
}

std::optional<ParkedSubscription> decode_parked(std::string_view value) {
  const auto id = record_field(value, "id"), event = record_field(value, "event"), exp = record_field(value, "exp"),
             cseq = record_field(value, "cseq"), ruri = record_field(value, "ruri"), to = record_field(value, "to"),
             from = record_field(value, "from"), callid = record_field(value, "callid"), route = record_field(value, "route");
  if (!id || id->size() != 16 || !event || !exp || !cseq || !ruri || !to || !from || !callid || !route)
    return std::nullopt;
  const auto e = number(*exp), c = number(*cseq);
  auto ev = base64_decode(*event), r = base64_decode(*ruri), t = base64_decode(*to), f = base64_decode(*from),
       ci = base64_decode(*callid), ro = base64_decode(*route);
  if (!e || !c || *c > 0xffffffffu || !ev || !r || !t || !f || !ci || !ro || ev->empty() || r->empty() ||
      t->empty() || f->empty() || ci->empty())
    return std::nullopt;
  ParkedSubscription s;
  s.id = std::string(*id);
  s.event = std::move(*ev);
  s.expires_at = static_cast<std::int64_t>(*e);
  s.cseq = static_cast<std::uint32_t>(*c);
  s.request_uri = std::move(*r);
  s.to = std::move(*t);
  s.from = std::move(*f);
  s.call_id = std::move(*ci);
  s.route = std::move(*ro);
  s.refused = record_field(value, "state").value_or("") == "refused";
  return s;
}

std::vector<ParkedSubscription> live_parked(const std::vector<std::string>& values, std::int64_t now_unix) {
  std::vector<ParkedSubscription> out;
  for (const auto& v : values)
    if (auto s = decode_parked(v); s && s->expires_at > now_unix) out.push_back(std::move(*s));
  return out;
}

bool put_parked(std::vector<std::string>& values, const ParkedSubscription& s, std::size_t max_per_user,
                std::int64_t now_unix) {
  std::vector<std::string> kept;
  bool replaced = false;
  for (const auto& v : values) {
    const auto old = decode_parked(v);
    if (!old || old->expires_at <= now_unix) continue;
    if (old->id == s.id) {
      kept.push_back(encode_parked(s));
      replaced = true;
    } else {
      kept.push_back(v);
    }
  }
  if (!replaced) {
    if (kept.size() >= max_per_user) return false;
    kept.push_back(encode_parked(s));
  }
  values = std::move(kept);
  return true;
}

bool remove_parked(std::vector<std::string>& values, std::string_view id) {
  const auto it = std::find_if(values.begin(), values.end(), [&](const std::string& v) {
    const auto s = decode_parked(v);
    return s && s->id == id;
  });
  if (it == values.end()) return false;
  values.erase(it);
  return true;
}

std::string event_package(std::string_view event) {
  std::size_t end = event.find(';');
  std::string_view p = event.substr(0, end);
  while (!p.empty() && std::isspace(static_cast<unsigned char>(p.back()))) p.remove_suffix(1);
  while (!p.empty() && std::isspace(static_cast<unsigned char>(p.front()))) p.remove_prefix(1);
  std::string out(p);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string offline_pidf(std::string_view aor) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
         "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"" + xml_escape(aor) + "\">\r\n"
         " <tuple id=\"sippeer-offline\">\r\n"
         "  <status><basic>closed</basic></status>\r\n"
         "  <note>not registered</note>\r\n"
         " </tuple>\r\n"
         "</presence>\r\n";
}

}  // namespace sippeer::adaptor
