// libFuzzer: the admin API's request check (adaptor/admin/admin_guard.h)
// on made-up Authorization, Origin, Host and Sec-Fetch-Site values, and
// libevent's query-string parser as admin_http.cpp uses it.
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <cstdint>
#include <string>

#include "adaptor/admin/admin_guard.h"

using namespace sippeer::adaptor;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // Four header values out of one input, split at NUL bytes.
  std::string parts[4];
  std::size_t at = 0;
  for (int i = 0; i < 4 && at <= text.size(); ++i) {
    const std::size_t end = std::min(text.find('\0', at), text.size());
    parts[i] = text.substr(at, end - at);
    at = end + 1;
  }
  for (bool post : {false, true}) {
    (void)check_admin_request({post, parts[0], parts[1], parts[2], parts[3]}, "token");
    (void)check_admin_request({post, parts[0], parts[1], parts[2], parts[3]}, "");
  }
  evkeyvalq query;
  if (evhttp_parse_query_str(text.c_str(), &query) == 0) {
    (void)evhttp_find_header(&query, "aor");
    (void)evhttp_find_header(&query, "format");
    evhttp_clear_headers(&query);
  }
  return 0;
}
