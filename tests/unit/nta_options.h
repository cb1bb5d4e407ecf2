// An OPTIONS client transaction on a real nta agent, for the tests that
// need nta's own answer to one (udp_reader_test, send_errors_test): the
// final status lands in `status()`; the transaction and its leg go with
// the object. The leg has no dialog, so while it lives it is the agent's
// default leg: requests coming in go to it, not to the agent's callback.
#pragma once

#include <string>

#include "adaptor/sip/sofia.h"

namespace sippeer::adaptor {

class NtaOptions {
 public:
  NtaOptions(nta_agent_t* agent, const std::string& to) {
    leg_ = nta_leg_tcreate(agent, nullptr, nullptr, NTATAG_NO_DIALOG(1), TAG_END());
    if (!leg_) return;
    orq_ = nta_outgoing_tcreate(leg_, &NtaOptions::on_answer, &status_, URL_STRING_MAKE(to.c_str()),
                                SIP_METHOD_OPTIONS, URL_STRING_MAKE(to.c_str()),
                                SIPTAG_FROM_STR("<sip:a@example.com>"), SIPTAG_TO_STR(to.c_str()), TAG_END());
  }
  ~NtaOptions() {
    if (orq_) nta_outgoing_destroy(orq_);
    if (leg_) nta_leg_destroy(leg_);
  }
  NtaOptions(const NtaOptions&) = delete;
  NtaOptions& operator=(const NtaOptions&) = delete;

  bool sent() const { return orq_ != nullptr; }
  int status() const { return status_; }  // 0 until an answer came

 private:
  static int on_answer(nta_outgoing_magic_t* magic, nta_outgoing_t*, const sip_t* sip) {
    if (sip && sip->sip_status) *reinterpret_cast<int*>(magic) = sip->sip_status->st_status;
    return 0;
  }
  nta_leg_t* leg_ = nullptr;
  nta_outgoing_t* orq_ = nullptr;
  int status_ = 0;
};

}  // namespace sippeer::adaptor
