// Sofia-SIP's SIP message class with five repairs, handed to nta with
// NTATAG_MCLASS, so that requests nta would otherwise drop before sippeer
// sees them get the answer RFC 4475 asks for:
//
//   RFC 4475  what Sofia does                       with this class
//   3.1.1.2   method with ! % ` ' ~ (valid tokens)   parsed: routed, 404/forward
//             -> "received garbage", dropped
//   3.1.2.8   LWS inside the Request-URI             parsed, flagged: nta 400
//             -> "received garbage", dropped
//   3.1.2.1   Via with empty params ";;,;,,"         Via read without them,
//             -> no Via, nta cannot answer: dropped  flagged: nta 400
//   3.1.2.16  SIP/7.0: nta's 505 goes to the Via     received= and rport= are
//             host, before it adds received=         added: the 505 reaches
//                                                    the sender
//   3.1.1.2   CSeq method with ! % ` ' ~             parsed like the method
//             -> "400 Bad CSeq Header"
//   3.1.1.2   NUL in a quoted pair (To): over TCP    NULs of the header
//             the header scan stops at it and waits  section become spaces
//             until the connection closes            in the receive buffer
//
// Sofia's own parsers run first; the repairs act only on what they refuse,
// so every message Sofia accepts is parsed exactly as before.
#pragma once

#include "adaptor/sip/sofia.h"

namespace sippeer::adaptor {

// The class, built once (thread-safe); it lives for the process.
msg_mclass_t const* sip_message_class();

}  // namespace sippeer::adaptor
