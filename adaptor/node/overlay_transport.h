// dht::Transport over Sofia-SIP nta: overlay messages as SIP REGISTER.
//
// Outgoing requests are nta client transactions with a short timer of our
// own (a dead neighbour is noticed in request_timeout, not after 32 s of
// Timer F). Incoming overlay REGISTERs arrive on nta's stateless callback:
// when the node answers at once (update, transfer, a query it owns) the
// answer is sent statelessly and no transaction state is kept; only a
// request the node proxies further gets a server transaction, so that its
// answer can come back later and retransmissions are absorbed. Such a
// request gets a 100 Trying only if its answer is slow (dht::trying_delay).
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "adaptor/admin/histogram.h"
#include "adaptor/node/overlay_auth.h"
#include "adaptor/sip/reject_log.h"
#include "adaptor/sip/sip_traffic.h"
#include "adaptor/sip/sofia.h"
#include "dht/codec.h"
#include "dht/node.h"

namespace sippeer::adaptor {

// Routed requests this node originates (a Query or Store whose From is
// us: joins, finger queries, GET /lookup, the ring walk), timed from send
// to the final answer (200 or 404) in the adaptor, since dht/ reads no
// clock. Hops are the answer's P2P-Hops. A failover to the next candidate
// is a request of its own.
struct LookupStats {
  Histogram seconds{{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}};
  Histogram hops{{1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 24, 32, 48, 70}};
};

struct OverlayCounters {
  std::uint64_t sent_by_kind[dht::kKinds] = {};
  std::uint64_t received_by_kind[dht::kKinds] = {};
  std::uint64_t timeouts = 0;
  std::uint64_t bad_requests = 0;    // answered 400
  std::uint64_t bad_responses = 0;   // dropped
  std::uint64_t unsigned_requests = 0;   // answered 403: no valid P2P-Auth (overlay.secret)
  std::uint64_t unsigned_responses = 0;  // taken as a failure: no valid P2P-Auth
  std::uint64_t stateless_answers = 0;
  std::uint64_t probes = 0;          // OPTIONS liveness probes sent
  std::uint64_t stateful_answers = 0;
  ResponseClasses responses;         // every answer sent, 100 Trying included
  LookupStats lookups[2];            // by target: [0] a user's AOR, [1] a ring position
};

class OverlayTransport final : public dht::Transport {
 public:
  using Now = std::function<dht::Time()>;
  using Reschedule = std::function<void(dht::Time)>;

  // `auth` signs what we send and checks what we receive (overlay.secret);
  // when it is disabled nothing is signed or checked.
  OverlayTransport(nta_agent_t* agent, su_root_t* root, const dht::Codec& codec,
                   std::string local_address, dht::Duration timeout, OverlayAuth& auth);
  ~OverlayTransport() override;
  OverlayTransport(const OverlayTransport&) = delete;
  OverlayTransport& operator=(const OverlayTransport&) = delete;

  // The node this transport feeds, the clock, and where to report the
  // node's next deadline after each event.
  void bind(dht::Node* node, Now now, Reschedule reschedule);

  // dht::Transport
  void send_request(dht::TxnId txn, std::string_view to, const dht::Request& req) override;
  void relay_request(dht::TxnId txn, std::string_view to, const dht::Request& req,
                     dht::InboundId in) override;
  void send_response(dht::InboundId in, const dht::Response& resp) override;

  // An overlay REGISTER from nta's stateless callback. Takes the message.
  void on_request(msg_t* msg, sip_t* sip);

  // overlay.transport tls: requests go over TLS to the peer's overlay TLS
  // port, its SIP port + 2 (kOverlayTlsOffset), where the peer asks for our
  // certificate as we check its own.
  void use_tls(bool on) { tls_ = on; }
  static constexpr int kOverlayTlsOffset = 2;

  // How long a request we relay waits for its answer before we send the
  // sender a 100 Trying (which tells it we live and are working on it, see
  // dht::Failure): dht::trying_delay of our request timeout. Skipping the
  // 100 for the fast answers saves a third of the datagrams of each relay
  // hop, and is closer to RFC 4320, which forbids a 100 to a non-INVITE
  // over UDP before Timer E reaches T2 (we cannot wait that long: the 100
  // must reach the sender before its request timeout). The due 100s go out
  // in batches, up to an eighth of the delay late.
  std::chrono::milliseconds trying_delay() const;

  const OverlayCounters& counters() const { return counters_; }
  std::size_t pending_outgoing() const { return out_.size(); }

 private:
  struct Outgoing {
    OverlayTransport* self = nullptr;
    dht::TxnId txn = 0;
    nta_outgoing_t* orq = nullptr;
    su_timer_t* timer = nullptr;
    bool acknowledged = false;  // a 1xx came: the peer is alive, wait longer
    int lookup = -1;            // index into counters_.lookups when we originated it
    std::chrono::steady_clock::time_point sent{};
    std::string nonce;          // of our P2P-Auth: the answer's MAC covers it
  };
  struct Inbound {
    msg_t* msg = nullptr;           // our reference to the request
    nta_incoming_t* irq = nullptr;  // set once we know we answer later
    std::string nonce;              // the request's P2P-Auth nonce, signed into our answer
  };

  void start(dht::TxnId txn, msg_t* msg, const std::string& address, std::string nonce = {});
  // Signs a request built or changed in place (a relayed one) and prints it again.
  std::string sign_message(msg_t* msg);
  bool refuse_unsigned(msg_t* msg, const std::string& text, std::string* nonce);
  bool answer_is_signed(const Outgoing& o, int status, const sip_t* sip, const std::string& text);
  void fail_later(dht::TxnId txn);
  void finish(Outgoing* o);
  static int on_response(void* magic, nta_outgoing_t* orq, const sip_t* sip);
  static void on_timeout(su_root_magic_t* magic, su_timer_t* t, void* arg);
  void observe_lookup(int target, std::chrono::steady_clock::time_point sent, int hops);
  // 100 Trying for the relayed requests still unanswered after the delay.
  void arm_trying();
  static void on_trying_due(su_root_magic_t* magic, su_timer_t* t, void* arg);

  nta_agent_t* agent_;
  su_root_t* root_;
  const dht::Codec& codec_;
  std::string local_address_;
  dht::Duration timeout_;
  OverlayAuth& auth_;
  bool tls_ = false;
  dht::Node* node_ = nullptr;
  Now now_;
  Reschedule reschedule_;
  std::unordered_map<dht::TxnId, std::unique_ptr<Outgoing>> out_;
  std::unordered_map<dht::InboundId, Inbound> in_;
  // Relayed requests in arrival order, each with when its 100 is due: the
  // delay is the same for all, so the queue is in deadline order too.
  std::deque<std::pair<std::chrono::steady_clock::time_point, dht::InboundId>> trying_due_;
  su_timer_t* trying_timer_ = nullptr;
  dht::InboundId next_in_ = 1;
  std::uint64_t next_tag_ = 1;
  OverlayCounters counters_;
  LoggedOnce<std::string> refused_logged_{4096};  // "source|reason" already logged
};

// SIP header lines ("Contact: ...\r\n...") that carry a dht::Response, as
// dht::Codec writes them; added to the reply by nta.
std::string response_headers(const dht::Codec& codec, const dht::Response& resp);

}  // namespace sippeer::adaptor
