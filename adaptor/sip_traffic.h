// Counts of SIP messages for GET /metrics: requests this node receives, by
// method, and responses it sends, by status class. Each part of the node
// (daemon, proxy, overlay transport) keeps its own and /metrics adds them
// up; only the SIP thread touches them.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "adaptor/sofia.h"

namespace sippeer::adaptor {

// Responses by class: count[2] is every 2xx sent.
struct ResponseClasses {
  std::uint64_t count[7] = {};
  void add(int status) {
    if (status >= 100 && status < 700) ++count[status / 100];
  }
};

// Requests by method name. Methods Sofia does not know are counted as
// "other": a label per unknown word on the wire would let anyone grow the
// metrics without bound.
struct RequestMethods {
  std::map<std::string, std::uint64_t> count;
  void add(const sip_t* sip) {
    if (!sip || !sip->sip_request) return;
    const sip_request_t* rq = sip->sip_request;
    ++count[rq->rq_method != sip_method_unknown && rq->rq_method_name ? rq->rq_method_name : "other"];
  }
};

}  // namespace sippeer::adaptor
