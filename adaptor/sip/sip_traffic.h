// Counts of SIP messages for GET /metrics: requests this node receives, by
// method, and responses it sends, by status class. Each part of the node
// (daemon, proxy, overlay transport) keeps its own and /metrics adds them
// up; only the SIP thread touches them.
#pragma once

#include <cstdint>

#include "adaptor/sip/sofia.h"

namespace sippeer::adaptor {

// Responses by class: count[2] is every 2xx sent.
struct ResponseClasses {
  std::uint64_t count[7] = {};
  void add(int status) {
    if (status >= 100 && status < 700) ++count[status / 100];
  }
};

// Requests by method. Methods Sofia does not know are counted as "other":
// a label per unknown word on the wire would let anyone grow the metrics
// without bound. Indexed by Sofia's method code, so counting (once per
// request received) is an array increment.
struct RequestMethods {
  static constexpr int kMethods = sip_method_publish + 1;  // the last code Sofia knows
  std::uint64_t count[kMethods] = {};                      // [sip_method_unknown] is "other"
  void add(const sip_t* sip) {
    if (!sip || !sip->sip_request) return;
    const int m = sip->sip_request->rq_method;
    ++count[m > 0 && m < kMethods ? m : sip_method_unknown];
  }
  // f(label, n) for every method seen, "other" included.
  template <typename F>
  void for_each(F f) const {
    for (int m = 0; m < kMethods; ++m)
      if (count[m]) f(m == sip_method_unknown ? "other" : sip_method_name(static_cast<sip_method_t>(m), "other"), count[m]);
  }
};

}  // namespace sippeer::adaptor
