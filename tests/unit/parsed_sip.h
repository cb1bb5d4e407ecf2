// A SIP message parsed by Sofia for a unit test, destroyed with the scope.
// Parsing needs no su_init().
#pragma once

#include <string_view>

#include "adaptor/sip/sofia.h"

namespace sippeer::adaptor {

class Parsed {
 public:
  explicit Parsed(std::string_view text)
      : msg_(msg_make(sip_default_mclass(), 0, text.data(), static_cast<isize_t>(text.size()))) {}
  ~Parsed() { msg_destroy(msg_); }
  Parsed(const Parsed&) = delete;
  Parsed& operator=(const Parsed&) = delete;
  const sip_t* sip() const { return msg_ ? sip_object(msg_) : nullptr; }

 private:
  msg_t* msg_;
};

}  // namespace sippeer::adaptor
