// Stateless final answers over UDP written straight from the request's
// own header text, for the two hot paths: the registrar's answers and the
// overload 503.
//
// Why: under callgrind nta_msg_treply was 38 % of a phone REGISTER's
// instructions (~32,000): it copies every header into a new Sofia message,
// encodes them all again (snprintf for each number) and walks tport's send
// path. Here the Via, From, To, Call-ID and CSeq lines are copied as
// received (Sofia keeps each parsed header's original text), the top Via
// re-encoded with the received/rport nta added, and one sendto() answers
// to where the request came from (RFC 3581, as nta does with rport on).
//
// Anything unusual (TCP, a header it cannot copy, a reply over 1,300
// bytes) makes reply() return false without touching the message, and the
// caller answers through nta as before.
#pragma once

#include <string>
#include <string_view>

#include "adaptor/sip/sofia.h"

namespace sippeer::adaptor {

class FastReply {
 public:
  // fd: the UDP socket nta listens on (Admission finds it); -1 = off.
  void set_socket(int fd) { fd_ = fd; }

  // `extra` is whole header lines, each ending in CRLF. True when sent;
  // the message is then destroyed.
  bool reply(msg_t* msg, const sip_t* sip, int status, const char* phrase, std::string_view extra = {});

  // "Date: Sun, 22 Nov 2026 06:30:00 GMT\r\n", formatted once a second.
  const std::string& date_line();

 private:
  int fd_ = -1;
  std::string buf_;
  std::string date_;
  long date_second_ = -1;
  std::string tag_;
};

}  // namespace sippeer::adaptor
