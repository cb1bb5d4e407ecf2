// Finding the ring and staying with the biggest one (report 3.3.2).
//
// At start: a REGISTER to the multicast group 224.0.1.75, then the
// configured bootstrap peers, then the peers cached from the last run; if
// nobody answers, a ring of our own ("alone"), which keeps looking. Later,
// every rediscovery interval, a small ring looks for a bigger one and
// moves into it (ring_merge.cpp). Discovery also answers other nodes'
// discovery REGISTERs with a 302 naming us and our ring's size.
//
// The Daemon owns one and hands it the node's events (joined, join failed,
// id taken); everything here runs in the SIP thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "adaptor/node/overlay_auth.h"
#include "adaptor/config/settings.h"
#include "adaptor/node/multicast.h"
#include "adaptor/node/service_manager.h"
#include "adaptor/sip/reject_log.h"
#include "adaptor/sip/sip_traffic.h"
#include "adaptor/sip/sofia.h"
#include "dht/codec.h"
#include "dht/node.h"

namespace sippeer::adaptor {

// What discovery needs of the node it serves.
struct DiscoveryContext {
  su_root_t* root = nullptr;
  nta_agent_t* agent = nullptr;
  dht::Node* node = nullptr;
  const dht::Storage* storage = nullptr;  // a moving node carries its records
  const dht::Ring* ring = nullptr;
  const dht::Codec* codec = nullptr;
  const Settings* settings = nullptr;     // the daemon's, reloaded in place on SIGHUP
  std::string local_ip;
  std::string local_address;              // ip:port
  std::function<dht::Time()> now;
  std::function<void(dht::Time)> reschedule;
  ServiceManager* service = nullptr;
  std::function<bool()> leaving;
  std::function<std::vector<std::string>()> cached_peers;
  std::function<void()> save_peers;
  RequestMethods* requests_received = nullptr;  // for /metrics: multicast bypasses nta
  ResponseClasses* responses_sent = nullptr;
  OverlayAuth* auth = nullptr;  // signs our probes, checks theirs and the answers (overlay.secret)
};

class Discovery {
 public:
  explicit Discovery(DiscoveryContext ctx);
  ~Discovery();  // timers and probes go before the Sofia root they live on
  Discovery(const Discovery&) = delete;
  Discovery& operator=(const Discovery&) = delete;

  // Joins the multicast group (even with -N: a ring of our own still
  // answers others), then starts looking.
  void start();

  // The node's events.
  void on_joined();
  void on_join_failed();
  void on_duplicate(const dht::NodeRef& existing);

  // A discovery REGISTER (to 224.0.1.75) that reached our unicast address.
  void on_discovery_request(msg_t* msg, sip_t* sip);

  // How this node found its ring: "none" (-N: it did not look),
  // "multicast", "bootstrap", "cache", "merge", or "alone" when it looked
  // and nobody answered; tried() says where it looked.
  const char* method() const { return method_; }
  const std::string& tried() const { return tried_; }
  // The node that holds our id, when ours turned out to be taken (report
  // 3.13): phones' requests go there instead.
  const std::string& outbound_proxy() const { return outbound_proxy_; }

 private:
  // discovery.cpp
  void discover();
  void next_candidate();
  void probe_multicast();
  static int on_probe_response(void* magic, nta_outgoing_t* orq, const sip_t* sip);
  static void on_probe_timeout(su_root_magic_t*, su_timer_t*, void* arg);
  void end_probe();
  void join_through(const std::string& address);
  void note_tried(const std::string& what);
  void become_singleton();
  msg_t* discovery_request(std::string* nonce);
  // True when an answer to one of our probes is signed by a member of a
  // ring holding our key (always, without overlay.secret).
  bool answer_is_signed(const nta_outgoing_t* orq, const sip_t* sip) const;
  static void on_rediscover(su_root_magic_t*, su_timer_t*, void* arg);
  void arm_rediscovery();
  std::vector<std::string> resolve_bootstrap(const std::string& entry) const;

  // ring_merge.cpp
  struct RingView {
    std::size_t size = 1;      // exact when `exact`, else a lower bound
    bool exact = false;        // our successor list wraps: we know every member
    dht::Id min_id;            // smallest id we know in the ring (tie-break)
  };
  RingView ring_view() const;
  std::string ring_params() const;  // ;ring-size=N;ring-min=ID for the 302
  void start_merge_probe();
  static int on_merge_response(void* magic, nta_outgoing_t* orq, const sip_t* sip);
  static void on_merge_window_end(su_root_magic_t*, su_timer_t*, void* arg);
  void end_merge_probe();

  DiscoveryContext ctx_;
  std::unique_ptr<MulticastListener> multicast_;
  std::vector<std::string> candidates_;
  std::size_t candidate_ = 0;
  std::size_t bootstrap_count_ = 0;   // candidates_ before this index are bootstrap peers
  bool probing_multicast_ = false;
  nta_outgoing_t* probe_ = nullptr;
  // Our P2P-Auth nonce of each probe in flight: the 302's MAC covers it.
  std::unordered_map<const nta_outgoing_t*, std::string> probe_nonces_;
  std::uint64_t unsigned_probes_ = 0;        // discovery requests without our key, not answered
  LoggedOnce<std::string> refused_sources_{1024};  // sources whose unsigned probe was logged
  su_timer_t* probe_timer_ = nullptr;
  su_timer_t* rediscover_timer_ = nullptr;
  unsigned seq_ = 0;                  // keeps concurrent probes' branches apart
  const char* method_ = "none";
  std::string tried_;                 // "multicast, bootstrap 10.0.0.2:5060, ..."
  std::string joining_through_;
  std::string outbound_proxy_;
  std::vector<dht::StoredRecord> carried_records_;  // a small ring's, re-stored after a merge
  struct MergeOffer {
    std::string address;
    std::size_t size = 0;
    dht::Id min_id;
  };
  std::vector<nta_outgoing_t*> merge_probes_;
  std::optional<MergeOffer> merge_offer_;  // the best foreign ring heard in this window
  su_timer_t* merge_timer_ = nullptr;
};

}  // namespace sippeer::adaptor
