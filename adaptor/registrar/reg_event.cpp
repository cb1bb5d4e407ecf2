#include "adaptor/registrar/reg_event.h"

#include <algorithm>

#include "adaptor/xml.h"
#include "adaptor/sip/crypto.h"

namespace sippeer::adaptor {

namespace {

const RegContact* find_uri(const std::vector<RegContact>& list, const std::string& uri) {
  for (const auto& c : list)
    if (c.uri == uri) return &c;
  return nullptr;
}

// A stable id for an element: 32 bits of SHA-256 of its text, so the same
// binding has the same id in every document and on every registrar.
std::string element_id(std::string_view text) { return sha256_hex(text, 4); }

}  // namespace

std::vector<RegContactEvent> reg_changes(const std::vector<RegContact>& before, const std::vector<RegContact>& after,
                                         bool by_register, std::int64_t now_unix) {
  std::vector<RegContactEvent> out;
  for (const auto& c : after) {
    const RegContact* old = find_uri(before, c.uri);
    if (!old) out.push_back({c, "active", "registered"});
    else if (c.expires_at > old->expires_at) out.push_back({c, "active", "refreshed"});
    else if (c.expires_at < old->expires_at) out.push_back({c, "active", "shortened"});
  }
  for (const auto& c : before) {
    if (find_uri(after, c.uri)) continue;
    // Gone without a REGISTER, or past its time even if a REGISTER came: expired.
    const bool expired = !by_register || c.expires_at <= now_unix;
    out.push_back({c, "terminated", expired ? "expired" : "unregistered"});
  }
  return out;
}

std::vector<RegContactEvent> reg_full(const std::vector<RegContact>& now) {
  std::vector<RegContactEvent> out;
  for (const auto& c : now) out.push_back({c, "active", "registered"});
  return out;
}

std::string reginfo_xml(std::string_view aor, std::uint32_t version, bool full, std::size_t active_contacts,
                        bool ever_registered, const std::vector<RegContactEvent>& contacts, std::int64_t now_unix) {
  const char* reg_state = active_contacts > 0 ? "active" : ever_registered ? "terminated" : "init";
  std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n";
  x += "<reginfo xmlns=\"urn:ietf:params:xml:ns:reginfo\" version=\"" + std::to_string(version) + "\" state=\"" +
       (full ? "full" : "partial") + "\">\r\n";
  x += " <registration aor=\"" + xml_escape(aor) + "\" id=\"r" + element_id(aor) + "\" state=\"" + reg_state +
       "\">\r\n";
  for (const auto& e : contacts) {
    x += "  <contact id=\"c" + element_id(e.contact.uri) + "\" state=\"" + e.state + "\" event=\"" + e.event + "\"";
    if (e.state == "active") x += " expires=\"" + std::to_string(std::max<std::int64_t>(e.contact.expires_at - now_unix, 0)) + "\"";
    x += ">\r\n   <uri>" + xml_escape(e.contact.uri) + "</uri>\r\n  </contact>\r\n";
  }
  x += " </registration>\r\n</reginfo>\r\n";
  return x;
}

}  // namespace sippeer::adaptor
