// Text for XML and HTML: the one escaping function of the adaptor, used by
// the ring picture and status page (adaptor/admin/) and by the documents
// NOTIFYs carry (PIDF, reginfo; adaptor/registrar/).
#pragma once

#include <string>
#include <string_view>

namespace sippeer::adaptor {

// &, <, >, " and ' as entities, for XML and HTML text and attributes;
// control characters other than tab and newline (not XML) as spaces.
inline std::string xml_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') out += ' ';
        else out += c;
    }
  }
  return out;
}

}  // namespace sippeer::adaptor
