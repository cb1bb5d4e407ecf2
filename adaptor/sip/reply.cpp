#include "adaptor/sip/reply.h"

#include "adaptor/sip/fast_reply.h"
#include "adaptor/sip/reject_log.h"

namespace sippeer::adaptor {

namespace {

// Indexed by Reject; reply_row checks the order with each row's own tag.
struct Row {
  Reject r;
  ReplyRow row;
};

constexpr Row kRows[] = {
    {Reject::TooManyHops, {483, "Too Many Hops", nullptr, nullptr, "Max-Forwards reached 0"}},
    {Reject::UnsupportedUriScheme, {416, "Unsupported URI Scheme", nullptr, nullptr, "not a sip: or sips: URI"}},
    {Reject::LoopDetected, {482, "Loop Detected", nullptr, nullptr, "our Via is already in it"}},
    {Reject::BadExtension, {420, "Bad Extension", "Unsupported", nullptr, "Proxy-Require"}},
    {Reject::NoTransaction, {481, "Call/Transaction Does Not Exist", nullptr, nullptr, "no such transaction"}},
    {Reject::NotFound, {404, "Not Found", nullptr, nullptr, "addressed to a node, not a user"}},
    {Reject::UserNotFound, {404, "User not found on P2P/SIP", nullptr, nullptr, "no live binding"}},
    {Reject::MailboxRefused,
     {480, "Temporarily Unavailable (offline, message not kept)", nullptr, nullptr, "offline message refused"}},
    {Reject::NoGateway, {404, "No gateway for this number", nullptr, nullptr, "no registered telephone prefix"}},
    {Reject::NotInRingYet,
     {480, "Temporarily Unavailable (not in the ring yet)", "Retry-After", "5", "not in the ring yet"}},
    {Reject::RegistrarNotInRingYet,
     {503, "Service Unavailable (not in the ring yet)", "Retry-After", "5", "not in the ring yet"}},
    {Reject::NodeLeaving, {503, "Service Unavailable (node leaving)", "Retry-After", "5", "leaving the ring"}},
    {Reject::Overloaded, {503, "Service Unavailable (overloaded)", "Retry-After", nullptr, "overloaded"}},
    {Reject::NotARelay,
     {403, "Forbidden (not a relay)", nullptr, nullptr, "from outside proxy.allowed_networks to a foreign target"}},
    {Reject::SourceFlood,
     {503, "Service Unavailable (too many requests from your address)", "Retry-After", nullptr,
      "limits.per_source_rate"}},
    {Reject::SourceTransactions,
     {503, "Service Unavailable (too many open requests from your address)", "Retry-After", nullptr,
      "limits.per_source_transactions"}},
    {Reject::MessageTooLarge,
     {413, "Request Entity Too Large", nullptr, nullptr, "limits.max_message_bytes"}},
    {Reject::OverlayNotOverTls,
     {403, "Forbidden (overlay over TLS only)", nullptr, nullptr, "overlay.transport tls: not over verified TLS"}},
    {Reject::Unauthorized, {401, "Unauthorized", "WWW-Authenticate", nullptr, "challenged"}},
    {Reject::ProxyAuthRequired,
     {407, "Proxy Authentication Required", "Proxy-Authenticate", nullptr, "challenged"}},
    {Reject::BadCredentials, {403, "Forbidden (bad credentials)", nullptr, nullptr, "authentication failed"}},
    {Reject::AuthBlocked,
     {403, "Forbidden (too many failed attempts)", "Retry-After", nullptr, "auth.max_failures"}},
    {Reject::UnknownUser, {403, "Forbidden (unknown user)", nullptr, nullptr, "no credential in auth.domains"}},
    {Reject::SignUpMailed,
     {403, "Forbidden (password sent by e-mail)", "Retry-After", "60", "auth.mode email: password mailed"}},
    {Reject::Unavailable, {480, "Temporarily Unavailable", nullptr, nullptr, "no next hop could be tried"}},
    {Reject::ServiceUnavailable, {503, "Service Unavailable", nullptr, nullptr, "the request could not be sent"}},
    {Reject::RequestTerminated, {487, "Request Terminated", nullptr, nullptr, "canceled"}},
    {Reject::NoAnswerInvite, {480, "Temporarily Unavailable", nullptr, nullptr, "no branch answered"}},
    {Reject::NoAnswer, {408, "Request Timeout", nullptr, nullptr, "no branch answered"}},
    {Reject::DnsResolverUnavailable, {503, "DNS resolver unavailable", nullptr, nullptr, "no resolver"}},
    {Reject::NoDnsRecord, {503, "No DNS record", nullptr, nullptr, "NAPTR, SRV and A found nothing"}},
    {Reject::DnsTargetUnreachable, {503, "DNS target unreachable", nullptr, nullptr, "every DNS target failed"}},
    {Reject::DnsTimeout, {408, "DNS timeout", nullptr, nullptr, "dns.timeout_ms passed"}},
    {Reject::InvalidTo, {400, "Invalid To", nullptr, nullptr, "To is not a SIP URI"}},
    {Reject::BadContact, {400, "Invalid Contact", nullptr, nullptr, "bad Contact"}},
    {Reject::BadQValue, {400, "Invalid q Value", nullptr, nullptr, "q outside 0..1"}},
    {Reject::StarWithContacts, {400, "Wildcard Contact Not Alone", nullptr, nullptr, "Contact: * with others"}},
    {Reject::StarWithoutExpiresZero,
     {400, "Wildcard Contact Without Expires 0", nullptr, nullptr, "Contact: * without Expires: 0"}},
    {Reject::IntervalTooBrief, {423, "Interval Too Brief", "Min-Expires", nullptr, "expires below the minimum"}},
    {Reject::BadExpires, {400, "Invalid Expires", nullptr, nullptr, "expires is not delta-seconds"}},
    {Reject::MissingHeader, {400, "Missing Call-ID or CSeq", nullptr, nullptr, "no Call-ID or CSeq"}},
    {Reject::OutOfOrder, {500, "Out of Order Request", nullptr, nullptr, "CSeq not above the stored one"}},
    {Reject::TooManyContacts, {403, "Too Many Contacts", nullptr, nullptr, "registrar.max_contacts"}},
    {Reject::RegistrarFull,
     {503, "Service Unavailable (registrar full)", "Retry-After", "60", "limits.max_records"}},
    {Reject::Internal, {500, "Server Internal Error", nullptr, nullptr, "internal error"}},
};

constexpr bool rows_in_enum_order() {
  for (std::size_t i = 0; i < std::size(kRows); ++i)
    if (static_cast<std::size_t>(kRows[i].r) != i) return false;
  return static_cast<std::size_t>(Reject::Internal) + 1 == std::size(kRows);
}
static_assert(rows_in_enum_order(), "kRows must list every Reject once, in the enum's order");

}  // namespace

const ReplyRow& reply_row(Reject r) { return kRows[static_cast<std::size_t>(r)].row; }

std::string reply_header_line(const ReplyRow& row, std::string_view value) {
  if (!row.header) return {};
  const std::string_view v = value.empty() && row.value ? std::string_view(row.value) : value;
  return std::string(row.header) + ": " + std::string(v) + "\r\n";
}

int send_reject(const Replier& via, msg_t* msg, Reject r, std::string_view value, std::string_view why) {
  const ReplyRow& row = reply_row(r);
  if (via.tag) log_rejected(via.tag, msg, row.status, row.phrase, why);
  const std::string line = reply_header_line(row, value);
  const std::string header = line.substr(0, line.size() >= 2 ? line.size() - 2 : 0);  // Sofia wants no CRLF
  sip_t* sip = sip_object(msg);
  const bool invite = sip && sip->sip_request && sip->sip_request->rq_method == sip_method_invite;
  if (invite && via.absorb_invite_ack) {
    // A final answer to INVITE draws a hop-by-hop ACK: a server
    // transaction absorbs it instead of letting it wander the ring.
    if (nta_incoming_t* irq = nta_incoming_create(via.agent, nullptr, msg, sip, TAG_END())) {
      nta_incoming_treply(irq, row.status, row.phrase, TAG_IF(row.header, SIPTAG_HEADER_STR(header.c_str())),
                          TAG_END());
      nta_incoming_destroy(irq);
      return row.status;
    }
  }
  if (via.fast && sip && via.fast->reply(msg, sip, row.status, row.phrase, line)) return row.status;
  nta_msg_treply(via.agent, msg, row.status, row.phrase, TAG_IF(row.header, SIPTAG_HEADER_STR(header.c_str())),
                 TAG_END());
  return row.status;
}

}  // namespace sippeer::adaptor
