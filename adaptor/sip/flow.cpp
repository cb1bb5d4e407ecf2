// Flow tokens: see flow.h.
#include "adaptor/sip/flow.h"

#include <algorithm>

namespace sippeer::adaptor::flow {

namespace {
constexpr std::string_view kPrefix = "f~";
}  // namespace

std::string token(const Arrival& a) {
  bool needed = false;
  if (a.transport == "udp") {
    needed = a.rport && a.sent_by != a.source;
  } else if (a.transport == "tls") {
    // A phone cannot be reached by a new TLS connection: it has no server
    // certificate (baresip, linphone and the rest present none by
    // default). Its own connection is the only way back (RFC 3261 18.2.2).
    needed = true;
  } else if (a.transport == "tcp") {
    needed = a.alias || a.sent_by == a.source ||
             std::find(a.contacts.begin(), a.contacts.end(), a.source) != a.contacts.end();
  }
  const auto colon = a.source.rfind(':');
  if (!needed || colon == std::string::npos || colon == 0 || colon + 1 == a.source.size()) return {};
  return a.transport + "~" + a.source.substr(0, colon) + "~" + a.source.substr(colon + 1);
}

std::string route(const std::string& token, const std::string& node_address, bool record_route) {
  std::string tp;
  if (record_route && token.compare(0, 4, "udp~") != 0) tp = ";transport=" + token.substr(0, token.find('~'));
  return "<sip:" + std::string(kPrefix) + token + "@" + node_address + tp + ";lr>";
}

std::string target(std::string_view user) {
  if (user.substr(0, kPrefix.size()) != kPrefix) return {};
  const std::string t(user.substr(kPrefix.size()));
  const auto a = t.find('~'), b = t.rfind('~');
  if (a == std::string::npos || b == a || a == 0 || b + 1 == t.size()) return {};
  return t.substr(a + 1, b - a - 1) + ":" + t.substr(b + 1) + ";transport=" + t.substr(0, a);
}

std::string token_of(std::string_view target) {
  const auto colon = target.find(':'), semi = target.find(';');
  if (colon == std::string_view::npos || semi == std::string_view::npos || semi < colon) return {};
  const auto eq = target.find('=', semi);
  if (eq == std::string_view::npos) return {};
  return std::string(target.substr(eq + 1)) + "~" + std::string(target.substr(0, colon)) + "~" +
         std::string(target.substr(colon + 1, semi - colon - 1));
}

}  // namespace sippeer::adaptor::flow
