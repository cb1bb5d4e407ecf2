// A minimal SMTP client (RFC 5321) for the e-mail sign-up of auth.mode
// email (report 5.2): plain SMTP to a relay on the LAN or localhost, no
// login, no TLS. Blocking with short timeouts: the caller runs it on a
// thread of its own, never on the SIP thread.
#pragma once

#include <string>

namespace sippeer::adaptor {

struct Mail {
  std::string from;     // envelope and header sender
  std::string to;       // one recipient
  std::string subject;
  std::string body;     // plain text; lines are dot-stuffed here
};

// Sends `mail` through the relay at `host_port` (IPv4 or a name). Returns
// "" on success, otherwise what went wrong ("connect 127.0.0.1:25: ...",
// "RCPT TO: 550 ...").
std::string send_mail(const std::string& host_port, const Mail& mail, int timeout_ms = 5000);

}  // namespace sippeer::adaptor
