#include "adaptor/proxy/best_answer.h"

namespace sippeer::adaptor {

int BestAnswer::rank(int status, bool internal) {
  int r = status >= 600 ? 0 : (status / 100) * 10;
  if (status == 408 || internal) r += 5;
  return r;
}

bool BestAnswer::better(int status, bool internal) const {
  return status_ == 0 || rank(status, internal) < rank(status_, internal_);
}

void BestAnswer::take(int status, bool internal, std::string phrase) {
  status_ = status;
  internal_ = internal;
  phrase_ = std::move(phrase);
}

BestAnswer::Final BestAnswer::decide(bool canceled, bool ring_only, bool have_copy) const {
  // From outside our networks, to an AOR the ring does not have: we would
  // have to ask DNS and relay it out, which we do only for our own.
  if (ring_only && !canceled && (status_ == 404 || status_ == 0)) return Final::NotARelay;
  if (canceled && status_ == 0) return Final::Terminated;
  if (have_copy && !internal_) return Final::Relay;
  // Nobody answered: a dead contact or a ring that cannot route now.
  if (status_ == 503 || status_ == 408 || status_ == 0) return Final::NoAnswer;
  return Final::Status;
}

}  // namespace sippeer::adaptor
