// Every answer this node makes up itself, in one table: which error, which
// status and phrase, which extra header, and the reason the log gives.
// (After Kamailio's registrar/reply.c + rerrno.h and libre's sip/reply.c:
// a site names what went wrong; the table says how that is answered.)
//
// Answers relayed from downstream are not here; nor are the overlay's own
// (dht::reason_phrase), which travel between nodes, not to phones.
#pragma once

#include <string>
#include <string_view>

#include "adaptor/sip/sofia.h"

namespace sippeer::adaptor {

class FastReply;

enum class Reject {
  // entry checks (RFC 3261 16.3)
  TooManyHops,            // Max-Forwards 0
  UnsupportedUriScheme,   // not sip:/sips:, and no Route
  LoopDetected,           // our own Via below the top one
  BadExtension,           // Proxy-Require with a tag we do not accept
  NoTransaction,          // a CANCEL or in-dialog request for nothing we know
  NotFound,               // addressed to this node, or to a user at a node's address
  // routing
  UserNotFound,           // the AOR's owner has no live binding
  MailboxRefused,         // offline.*: a MESSAGE to an offline user that the mailbox cannot keep
  NoGateway,              // a call to a telephone number no registered prefix covers
  NotInRingYet,           // a request before this node joined
  RegistrarNotInRingYet,  // a REGISTER before this node joined
  NodeLeaving,            // the graceful leave is under way
  Overloaded,             // admission control
  // limits on one source (issue 14)
  NotARelay,              // from outside proxy.allowed_networks to a foreign domain or host
  SourceFlood,            // limits.per_source_rate
  SourceTransactions,     // limits.per_source_transactions
  MessageTooLarge,        // limits.max_message_bytes
  OverlayNotOverTls,      // overlay.transport tls, but this came otherwise
  // digest authentication (issue 13; adaptor/registrar/authenticator.h)
  Unauthorized,           // a REGISTER at the AOR's registrar: 401 with WWW-Authenticate
  ProxyAuthRequired,      // a phone's request at its edge node: 407 with Proxy-Authenticate
  BadCredentials,         // wrong password, unknown user, replayed nonce count
  AuthBlocked,            // auth.max_failures reached for the source or the AOR
  UnknownUser,            // From names a user of auth.domains the ring has no credential for
  SignUpMailed,           // auth.mode email: a password was mailed; 403 until the phone has it
  Unavailable,            // no next hop or branch could be started
  ServiceUnavailable,     // a request to a flow/contact nta could not send
  RequestTerminated,      // CANCELed (RFC 3261 16.10)
  NoAnswerInvite,         // every branch timed out, INVITE
  NoAnswer,               // every branch timed out, other methods
  // the DNS branch of a DNS + P2P lookup (report 3.5.2)
  DnsResolverUnavailable,
  NoDnsRecord,
  DnsTargetUnreachable,
  DnsTimeout,
  // the registrar (RFC 3261 10.3; RegError in adaptor/registrar/registrar.h)
  InvalidTo,
  BadContact,
  BadQValue,
  StarWithContacts,
  StarWithoutExpiresZero,
  IntervalTooBrief,
  BadExpires,
  MissingHeader,
  OutOfOrder,
  TooManyContacts,        // registrar.max_contacts
  RegistrarFull,          // limits.max_records
  Internal,
};

struct ReplyRow {
  int status;
  const char* phrase;  // on the wire, as phones and tests have always seen it
  const char* header;  // extra header's name ("Retry-After", "Unsupported", "Min-Expires") or nullptr
  const char* value;   // its value when fixed, else nullptr: the site gives it
  const char* reason;  // what the log line says went wrong
};

const ReplyRow& reply_row(Reject r);
// "Name: value\r\n" for a row's extra header ("" without one); `value`
// stands in for the row's own when it has none.
std::string reply_header_line(const ReplyRow& row, std::string_view value = {});

// Where an answer is sent from: the agent, the stateless UDP fast path
// (may be null), and the subsystem tag for the log line.
struct Replier {
  nta_agent_t* agent = nullptr;
  FastReply* fast = nullptr;
  // Subsystem tag for the log line; null for no log line at all (the
  // overload 503: admission control counts its refusals, and refusing
  // must cost far less than serving).
  const char* tag = "";
  // An INVITE's final answer from a server transaction, which absorbs its
  // hop-by-hop ACK. Off for the overload 503, whose ACK may travel on and
  // be dropped by the next node's entry checks.
  bool absorb_invite_ack = true;
};

// Answers `msg` (a request, taken) with the row for `r`: one log line
// (adaptor/sip/reject_log.h), then the answer. An INVITE gets a server
// transaction (unless via.absorb_invite_ack is off) so that its hop-by-hop
// ACK is absorbed here rather than routed on; anything else is answered statelessly, on the UDP fast path
// when there is one. `value` fills the extra header, `why` adds detail to
// the log line. Returns the status sent.
int send_reject(const Replier& via, msg_t* msg, Reject r, std::string_view value = {}, std::string_view why = {});

}  // namespace sippeer::adaptor
