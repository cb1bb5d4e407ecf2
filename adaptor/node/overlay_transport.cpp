#include "adaptor/node/overlay_transport.h"

#include <cstring>

#include "adaptor/log.h"
#include "adaptor/registrar/location.h"
#include "adaptor/sip/reject_log.h"

namespace sippeer::adaptor {

constexpr const char* kLogTag = "dht";  // see adaptor/log.h

namespace {

std::string tag_string(std::uint64_t n, const std::string& salt) {
  // Unique enough per process: a counter mixed with our address.
  std::uint64_t h = std::hash<std::string>{}(salt) ^ (n * 0x9e3779b97f4a7c15ull);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace

std::string response_headers(const dht::Codec& codec, const dht::Response& resp) {
  std::string h;
  const std::size_t n = resp.contacts.size();
  for (std::size_t i = 0; i < n; ++i)
    h += "Contact: " + codec.contact_value(resp.contacts[i], i, n) + "\r\n";
  // The record, of any kind, in the codec's own lines: a mailbox's
  // messages or parked subscriptions as much as bindings or a credential.
  if (resp.record) h += dht::Codec::record_headers(*resp.record, resp.ttl);
  // List (ctl regs --ring): where the next page starts; the page itself
  // is the body (send_response).
  if (resp.list_next) h += "P2P-List: " + codec.ring().hex(*resp.list_next) + "\r\n";
  h += "P2P-Hops: " + std::to_string(resp.hops);
  return h;
}

OverlayTransport::OverlayTransport(nta_agent_t* agent, su_root_t* root, const dht::Codec& codec,
                                   std::string local_address, dht::Duration timeout, OverlayAuth& auth)
    : agent_(agent), root_(root), codec_(codec), local_address_(std::move(local_address)),
      timeout_(timeout), auth_(auth) {}

OverlayTransport::~OverlayTransport() {
  if (trying_timer_) su_timer_destroy(trying_timer_);
  for (auto& [txn, o] : out_) {
    if (o->orq) nta_outgoing_destroy(o->orq);
    if (o->timer) su_timer_destroy(o->timer);
  }
  for (auto& [id, in] : in_) {
    if (in.irq) nta_incoming_destroy(in.irq);
    if (in.msg) msg_destroy(in.msg);
  }
}

void OverlayTransport::bind(dht::Node* node, Now now, Reschedule reschedule) {
  node_ = node;
  now_ = std::move(now);
  reschedule_ = std::move(reschedule);
}

// ------------------------------------------------------------- outgoing

void OverlayTransport::send_request(dht::TxnId txn, std::string_view to, const dht::Request& req) {
  const std::string address(to);  // the OPTIONS text and start() are built on strings
  if (req.probe) {
    // Liveness only (report 3.1: "REGISTER refresh and OPTIONS messages
    // are used to detect node failure"): any live node answers OPTIONS.
    const std::string branch = tag_string(next_tag_++, local_address_);
    const std::string from_tag = tag_string(next_tag_++, local_address_).substr(0, 10);
    const std::string call_id = tag_string(next_tag_++, local_address_) + "@" + local_address_;
    const std::string text = "OPTIONS sip:" + address + " SIP/2.0\r\nVia: SIP/2.0/UDP " + local_address_ +
                             ";branch=z9hG4bK" + branch + "\r\nMax-Forwards: 70\r\nFrom: <" +
                             codec_.node_uri(req.from) + ">;tag=" + from_tag + "\r\nTo: <" +
                             codec_.target_uri(req.to) + ">\r\nCall-ID: " + call_id +
                             "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    msg_t* msg = request_from_text(text);
    if (!msg) {
      fail_later(txn);
      return;
    }
    ++counters_.probes;
    start(txn, msg, address);
    return;
  }
  dht::Envelope env;
  env.via_address = local_address_;
  env.branch = "z9hG4bK" + tag_string(next_tag_++, local_address_);
  env.call_id = tag_string(next_tag_++, local_address_) + "@" + local_address_;
  env.from_tag = tag_string(next_tag_++, local_address_).substr(0, 10);
  std::string nonce;
  const std::string text = auth_.sign_request(codec_.encode(req, address, env), unix_now(), &nonce);
  msg_t* msg = request_from_text(text);
  if (!msg) {
    SIPPEER_LOG(Error) << "overlay: cannot build " << dht::kind_name(req.kind) << " for " << address;
    fail_later(txn);
    return;
  }
  ++counters_.sent_by_kind[static_cast<int>(req.kind)];
  start(txn, msg, address, std::move(nonce));
  if (auto it = out_.find(txn); it != out_.end() && req.from.address == local_address_ &&
                                (req.kind == dht::Kind::Query || req.kind == dht::Kind::Store)) {
    it->second->lookup = req.to.type == dht::Target::Type::User ? 0 : 1;
    it->second->sent = std::chrono::steady_clock::now();
  }
}

void OverlayTransport::relay_request(dht::TxnId txn, std::string_view to, const dht::Request& req,
                                     dht::InboundId in) {
  const std::string address(to);
  auto it = in_.find(in);
  msg_t* original = it == in_.end() ? nullptr : it->second.msg;
  if (!original) {
    send_request(txn, address, req);
    return;
  }
  // Proxy the request as it came (RFC 3261 16.6): same Call-ID, From tag
  // and Via stack, a new Request-URI, Max-Forwards as the node set it.
  msg_t* msg = msg_copy(original);
  sip_t* sip = msg ? sip_object(msg) : nullptr;
  if (!sip || !sip->sip_request) {
    if (msg) msg_destroy(msg);
    send_request(txn, address, req);
    return;
  }
  su_home_t* home = msg_home(msg);
  const std::string uri = "sip:" + address;
  sip_request_t* rq = sip_request_create(home, SIP_METHOD_REGISTER, URL_STRING_MAKE(uri.c_str()), nullptr);
  msg_header_replace(msg, reinterpret_cast<msg_pub_t*>(sip), reinterpret_cast<msg_header_t*>(sip->sip_request),
                     reinterpret_cast<msg_header_t*>(rq));
  auto* pub = reinterpret_cast<msg_pub_t*>(sip);
  if (sip->sip_max_forwards)
    msg_header_remove(msg, pub, reinterpret_cast<msg_header_t*>(sip->sip_max_forwards));
  msg_header_insert(msg, pub, reinterpret_cast<msg_header_t*>(
                                  sip_max_forwards_make(home, std::to_string(std::max(0, req.max_forwards)).c_str())));
  remove_unknown_header(msg, sip, "P2P-Owner");
  // Made as a header, not added as text: text added to a parsed message
  // lands after its body.
  if (req.owner_hop) msg_header_insert(msg, pub, msg_header_make(home, sip_unknown_class, "P2P-Owner: 1"));
  msg_serialize(msg, pub);
  std::string nonce = sign_message(msg);
  ++counters_.sent_by_kind[static_cast<int>(req.kind)];
  start(txn, msg, address, std::move(nonce));
}

std::string OverlayTransport::sign_message(msg_t* msg) {
  // The request changed (Request-URI, Max-Forwards, P2P-Owner): the
  // sender's MAC no longer holds, and we vouch for it now.
  sip_t* sip = sip_object(msg);
  remove_unknown_header(msg, sip, kAuthHeader);
  if (!auth_.enabled()) return {};
  msg_serialize(msg, reinterpret_cast<msg_pub_t*>(sip));
  std::string nonce;
  const std::string line = std::string(kAuthHeader) + ": " + auth_.request_stamp(message_text(msg), unix_now(), &nonce);
  msg_header_insert(msg, reinterpret_cast<msg_pub_t*>(sip),
                    msg_header_make(msg_home(msg), sip_unknown_class, line.c_str()));
  msg_serialize(msg, reinterpret_cast<msg_pub_t*>(sip));
  return nonce;
}

void OverlayTransport::start(dht::TxnId txn, msg_t* msg, const std::string& address, std::string nonce) {
  auto o = std::make_unique<Outgoing>();
  o->self = this;
  o->txn = txn;
  o->nonce = std::move(nonce);
  std::string uri = "sip:" + address;
  if (tls_) {
    // Where the peer listens for overlay TLS (see use_tls); the
    // Request-URI still names the node by its SIP address.
    const auto colon = address.rfind(':');
    const int port = std::atoi(address.c_str() + colon + 1) + kOverlayTlsOffset;
    uri = "sip:" + address.substr(0, colon) + ":" + std::to_string(port) + ";transport=tls";
  }
  // The next hop's 100 Trying says it relays our request and lives
  // (on_response); nta keeps every 100 to itself unless told to pass it.
  o->orq = nta_outgoing_mcreate(agent_, &OverlayTransport::on_response, o.get(),
                                URL_STRING_MAKE(uri.c_str()), msg, NTATAG_PASS_100(1), TAG_END());
  if (!o->orq) {
    msg_destroy(msg);  // mcreate takes the message only on success
    SIPPEER_LOG(Warn) << "overlay: cannot send to " << address;
    fail_later(txn);
    return;
  }
  o->timer = su_timer_create(su_root_task(root_), static_cast<su_duration_t>(timeout_.count()));
  su_timer_set(o->timer, &OverlayTransport::on_timeout, o.get());
  out_[txn] = std::move(o);
}

void OverlayTransport::fail_later(dht::TxnId txn) {
  // The Transport contract forbids calling back from inside send_request.
  auto o = std::make_unique<Outgoing>();
  o->self = this;
  o->txn = txn;
  o->timer = su_timer_create(su_root_task(root_), 0);
  su_timer_set(o->timer, &OverlayTransport::on_timeout, o.get());
  out_[txn] = std::move(o);
}

void OverlayTransport::finish(Outgoing* o) {
  if (o->orq) nta_outgoing_destroy(o->orq);
  if (o->timer) su_timer_destroy(o->timer);
  out_.erase(o->txn);  // frees o
}

int OverlayTransport::on_response(void* magic, nta_outgoing_t* orq, const sip_t* sip) {
  auto* o = static_cast<Outgoing*>(magic);
  OverlayTransport* self = o->self;
  const int status = sip && sip->sip_status ? sip->sip_status->st_status : 408;
  if (status < 200) {
    if (!o->acknowledged && o->timer) {
      // The next hop relays our request: it lives. Its own next hop may
      // be dead and cost it a timeout or two, so give the chain time.
      o->acknowledged = true;
      su_timer_set_interval(o->timer, &OverlayTransport::on_timeout, o,
                            static_cast<su_duration_t>(self->timeout_.count() * 8));
    }
    return 0;
  }
  const dht::TxnId txn = o->txn;
  const int lookup = o->lookup;
  const auto sent = o->sent;
  dht::Time deadline = dht::kNever;
  msg_t* msg = nta_outgoing_getresponse(orq);
  const bool internal = !sip || nta_sip_is_internal(sip);
  std::string text = msg ? message_text(msg) : std::string();
  if (msg) msg_destroy(msg);
  const bool probe = !internal && sip->sip_cseq && sip->sip_cseq->cs_method == sip_method_options;
  const bool trusted = internal || probe || self->answer_is_signed(*o, status, sip, text);
  self->finish(o);
  if (internal || !trusted) {
    deadline = self->node_->on_failure(self->now_(), txn);
  } else if (probe) {
    // A probe: whatever the node answered, it is alive.
    dht::Response alive;
    alive.status = dht::status::kOk;
    deadline = self->node_->on_response(self->now_(), txn, alive);
  } else {
    auto decoded = self->codec_.decode_response(text);
    if (auto* ok = std::get_if<dht::Decoded<dht::Response>>(&decoded)) {
      if (lookup >= 0 && (status == 200 || status == 404)) self->observe_lookup(lookup, sent, ok->message.hops);
      deadline = self->node_->on_response(self->now_(), txn, ok->message);
    } else {
      ++self->counters_.bad_responses;
      SIPPEER_LOG(Warn) << "overlay: dropped malformed " << status << " response ("
                        << dht::decode_error_name(std::get<dht::DecodeError>(decoded)) << ")";
      deadline = self->node_->on_failure(self->now_(), txn);
    }
  }
  self->reschedule_(deadline);
  return 0;
}

bool OverlayTransport::answer_is_signed(const Outgoing& o, int status, const sip_t* sip, const std::string& text) {
  if (!auth_.enabled()) return true;
  const char* call_id = sip->sip_call_id ? sip->sip_call_id->i_id : "";
  const std::uint32_t cseq = sip->sip_cseq ? sip->sip_cseq->cs_seq : 0;
  const MacCheck c = auth_.check_response(status, call_id, cseq, text, o.nonce);
  if (mac_ok(c)) return true;
  // Either a stranger answered in a member's place, or a member refused
  // us (403: we hold another secret). Both are failures of this request.
  ++counters_.unsigned_responses;
  SIPPEER_LOG(Warn) << "overlay: ignored a " << status << " answer without a valid P2P-Auth (" << mac_check_name(c)
                    << ")";
  return false;
}

void OverlayTransport::observe_lookup(int target, std::chrono::steady_clock::time_point sent, int hops) {
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - sent;
  counters_.lookups[target].seconds.observe(took.count());
  counters_.lookups[target].hops.observe(hops);
}

void OverlayTransport::on_timeout(su_root_magic_t*, su_timer_t*, void* arg) {
  auto* o = static_cast<Outgoing*>(arg);
  OverlayTransport* self = o->self;
  const dht::TxnId txn = o->txn;
  const dht::Failure why = o->acknowledged ? dht::Failure::NoAnswer : dht::Failure::Unreachable;
  ++self->counters_.timeouts;
  self->finish(o);
  self->reschedule_(self->node_->on_failure(self->now_(), txn, why));
}

// ------------------------------------------------------------- incoming

bool OverlayTransport::refuse_unsigned(msg_t* msg, const std::string& text, std::string* nonce) {
  const MacCheck c = auth_.check_request(text, unix_now(), nonce);
  if (mac_ok(c)) return false;
  // Not a member of our ring (no secret, or another one), or a replay:
  // one line per source and reason, then only the counters.
  ++counters_.unsigned_requests;
  counters_.responses.add(403);
  std::string source = source_of(msg);
  source = source.substr(0, source.rfind(':'));
  if (refused_logged_.first(source + "|" + mac_check_name(c)))
    SIPPEER_LOG(Warn) << "overlay: refused REGISTER from " << source << " with 403: " << mac_check_name(c)
                      << " (not a member holding overlay.secret; further ones from it are only counted)";
  nta_msg_treply(agent_, msg, 403, "Forbidden", TAG_END());
  return true;
}

void OverlayTransport::on_request(msg_t* msg, sip_t* sip) {
  const std::string text = message_text(msg);
  std::string nonce;
  if (refuse_unsigned(msg, text, &nonce)) return;
  auto decoded = codec_.decode_request(text);
  auto* ok = std::get_if<dht::Decoded<dht::Request>>(&decoded);
  if (!ok) {
    ++counters_.bad_requests;
    counters_.responses.add(400);
    const char* why = dht::decode_error_name(std::get<dht::DecodeError>(decoded));
    log_rejected(kLogTag, msg, 400, "Bad Request", std::string("malformed overlay REGISTER: ") + why);
    nta_msg_treply(agent_, msg, 400, "Bad Request", SIPTAG_WARNING_STR(("399 sippeer \"" + std::string(why) + "\"").c_str()), TAG_END());
    return;
  }
  ++counters_.received_by_kind[static_cast<int>(ok->message.kind)];
  const dht::InboundId id = next_in_++;
  in_[id] = Inbound{msg_ref_create(msg), nullptr, std::move(nonce)};
  const dht::Time deadline = node_->on_request(now_(), id, ok->message);
  auto it = in_.find(id);
  if (it == in_.end()) {
    // Answered synchronously and statelessly; drop the message we hold.
    msg_destroy(msg);
  } else {
    // The node proxies it and answers later: a server transaction keeps
    // the answer's path and absorbs retransmissions meanwhile.
    it->second.irq = nta_incoming_create(agent_, nullptr, msg, sip, TAG_END());
    if (it->second.irq) {
      trying_due_.emplace_back(std::chrono::steady_clock::now() + trying_delay(), id);
      arm_trying();
    }
  }
  reschedule_(deadline);
}

std::chrono::milliseconds OverlayTransport::trying_delay() const {
  return std::chrono::milliseconds{dht::trying_delay(timeout_).count()};
}

void OverlayTransport::arm_trying() {
  // su_timer_is_set is false inside the timer's own callback: Sofia takes
  // a timer off its heap before calling it (su_timer_expire, since 2009).
  if (su_timer_is_set(trying_timer_) || trying_due_.empty()) return;
  if (!trying_timer_) trying_timer_ = su_timer_create(su_root_task(root_), 0);
  if (!trying_timer_) return;
  // Not a wake-up per relayed request: the due ones are sent in batches,
  // an eighth of the delay apart (50 ms by default), a little late at
  // most, still well before the sender's timeout.
  const auto batch = std::max(trying_delay() / 8, std::chrono::milliseconds{1});
  const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(trying_due_.front().first -
                                                                          std::chrono::steady_clock::now());
  su_timer_set_interval(trying_timer_, &OverlayTransport::on_trying_due, this,
                        static_cast<su_duration_t>(std::max(wait, batch).count()));
}

void OverlayTransport::on_trying_due(su_root_magic_t*, su_timer_t*, void* arg) {
  auto* self = static_cast<OverlayTransport*>(arg);
  const auto now = std::chrono::steady_clock::now();
  while (!self->trying_due_.empty() && self->trying_due_.front().first <= now) {
    const dht::InboundId id = self->trying_due_.front().second;
    self->trying_due_.pop_front();
    // Still waiting for its answer: tell the sender we are alive and
    // working on it (see dht::Failure), so it waits longer instead of
    // taking us for dead.
    auto it = self->in_.find(id);
    if (it == self->in_.end() || !it->second.irq) continue;
    nta_incoming_treply(it->second.irq, SIP_100_TRYING, TAG_END());
    self->counters_.responses.add(100);
  }
  self->arm_trying();
}

void OverlayTransport::send_response(dht::InboundId in, const dht::Response& resp) {
  auto it = in_.find(in);
  if (it == in_.end()) return;
  Inbound inbound = it->second;
  in_.erase(it);
  std::string headers = response_headers(codec_, resp);
  const std::string body = resp.records.empty() ? std::string() : dht::Codec::records_body(resp.records);
  const std::string content_type(dht::Codec::kRecordsContentType);
  if (auth_.enabled()) {
    const sip_t* rq = sip_object(inbound.msg);
    const char* call_id = rq && rq->sip_call_id ? rq->sip_call_id->i_id : "";
    const std::uint32_t cseq = rq && rq->sip_cseq ? rq->sip_cseq->cs_seq : 0;
    std::string mac = auth_.response_header(resp.status, call_id, cseq, headers, inbound.nonce, body);
    mac.resize(mac.size() - 2);  // SIPTAG_HEADER_STR takes lines without the last CRLF
    headers += "\r\n" + mac;
  }
  const char* phrase = dht::reason_phrase(resp.status);
  counters_.responses.add(resp.status);
  if (inbound.irq) {
    ++counters_.stateful_answers;
    nta_incoming_treply(inbound.irq, resp.status, phrase, SIPTAG_HEADER_STR(headers.c_str()),
                        TAG_IF(!body.empty(), SIPTAG_CONTENT_TYPE_STR(content_type.c_str())),
                        TAG_IF(!body.empty(), SIPTAG_PAYLOAD_STR(body.c_str())), TAG_END());
    nta_incoming_destroy(inbound.irq);
    msg_destroy(inbound.msg);
  } else {
    ++counters_.stateless_answers;
    // nta_msg_treply consumes a reference: the caller's is released in
    // on_request, ours here.
    nta_msg_treply(agent_, inbound.msg, resp.status, phrase, SIPTAG_HEADER_STR(headers.c_str()),
                   TAG_IF(!body.empty(), SIPTAG_CONTENT_TYPE_STR(content_type.c_str())),
                   TAG_IF(!body.empty(), SIPTAG_PAYLOAD_STR(body.c_str())), TAG_END());
  }
}

}  // namespace sippeer::adaptor
