// RFC 3261 16.7 for one proxied request: which final answer of its branches
// goes upstream, and, once every branch has ended with nothing sent, what
// the proxy says. Pure (the response copy itself stays with the
// transaction, proxy_transaction.cpp), so the choice is unit-tested
// (tests/unit/best_answer_test.cpp).
#pragma once

#include <string>

namespace sippeer::adaptor {

class BestAnswer {
 public:
  // Lower is better: 6xx wins, then the lowest class; within a class a
  // timeout or an answer made up here (`internal`) says the least.
  static int rank(int status, bool internal);

  // A final answer (not 2xx: those go upstream at once) would replace the
  // best so far: there is none yet, or it ranks better.
  bool better(int status, bool internal) const;
  // Takes it as the best; `phrase` for an answer of ours ("" = the
  // status's own phrase, or the relayed copy's).
  void take(int status, bool internal, std::string phrase = {});

  int status() const { return status_; }  // 0: none yet
  bool internal() const { return internal_; }
  const std::string& phrase() const { return phrase_; }

  enum class Final {
    NotARelay,   // 403: from outside proxy.allowed_networks, and the ring does not have the AOR
    Terminated,  // 487: canceled before any answer
    Relay,       // the best answer is a phone's or server's: its copy goes up
    NoAnswer,    // nobody answered (408 for INVITE, 480 otherwise: reply.h)
    Status,      // the best status with phrase() (a 503 becomes 500, 16.7 step 6)
  };
  // Every branch has ended and nothing went upstream. `have_copy`: the
  // transaction kept the best answer's message.
  Final decide(bool canceled, bool ring_only, bool have_copy) const;

 private:
  int status_ = 0;
  bool internal_ = false;
  std::string phrase_;
};

}  // namespace sippeer::adaptor
