// JSON for the admin API: documents are built as nlohmann::json values and
// written by json_text(), never by string concatenation.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace sippeer::adaptor {

// ordered: keys stay in the order written, as clients that read the text
// (scripts/sippeer-softphone's sed) and people expect.
using Json = nlohmann::ordered_json;

// Compact JSON text. Strings the node did not make (an AOR from a phone or
// from ?aor=) may hold bytes that are not UTF-8; they are written as U+FFFD
// instead of making the whole document invalid (or throwing, nlohmann's
// default).
inline std::string json_text(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// {"error": why}, the body of every admin API error.
inline std::string json_error(const std::string& why) { return json_text(Json{{"error", why}}); }

}  // namespace sippeer::adaptor
