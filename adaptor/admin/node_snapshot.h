// A read-only copy of what the admin API shows of a node, taken in the SIP
// thread (adaptor/node/snapshot.cpp) and rendered anywhere: the renderers
// (status_json.cpp, metrics.cpp, ring_page.cpp, users.cpp) are free
// functions of these structs, with no Daemon, node or storage to reach
// into: the admin thread renders while the SIP thread goes on, and a unit
// test renders a snapshot it built by hand. (The counter structs come from
// the headers of the parts that keep them, some of which include Sofia.)
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "adaptor/admin/histogram.h"
#include "adaptor/node/overlay_auth.h"
#include "adaptor/node/overlay_transport.h"
#include "adaptor/proxy/proxy.h"
#include "adaptor/sip/admission.h"
#include "adaptor/sip/udp_reader.h"
#include "adaptor/sip/source_limits.h"

namespace sippeer::adaptor {

// A node as the pages name it.
struct NodeView {
  std::string id;        // hex, m bits
  std::string uri;       // its overlay URI
  std::string address;   // host:port
  double position = 0;   // where on the circle, [0, 1)
  friend bool operator==(const NodeView&, const NodeView&) = default;
};

struct FingerView {
  int index = 0;  // 1-based
  std::string start;
  std::optional<NodeView> node;
};

struct NodeSnapshot {
  NodeView self;
  std::string local_address;
  int bits = 160;
  std::string state = "idle";  // dht::state_name
  bool joined = false;
  std::string discovery;        // Discovery::method()
  std::string discovery_tried;  // "" when it found someone at once
  int rediscover_s = 0;
  std::optional<NodeView> predecessor;
  std::vector<NodeView> successors;
  std::vector<FingerView> fingers;
  std::optional<NodeView> duplicate_of;
  std::size_t primary_records = 0, replica_records = 0;
  double ring_size_estimate = 1;

  dht::NodeCounters node_counters;
  OverlayCounters overlay;
  OverlayAuth::Counters overlay_auth;
  bool overlay_auth_enabled = false;
  std::size_t overlay_auth_nonces = 0;
  SourceLimitCounters source_limits;
  int per_source_rate = 0;
  std::size_t sources_tracked = 0;
  std::string auth_mode = "off";
  std::uint64_t auth_ok = 0, auth_challenged = 0, auth_forbidden = 0, auth_blocked = 0;
  std::size_t credentials_stored = 0, credentials_cached = 0;
  std::uint64_t signup_mails = 0;
  ProxyCounters proxy;
  std::size_t relays_in_flight = 0;
  std::uint64_t relay_timeouts = 0;
  std::size_t proxy_transactions = 0;
  // Transactions and dialogs that nta holds, finished ones included until
  // their timers run out (sip.transaction_lifetime_ms): where a node's
  // traffic memory is.
  std::size_t nta_server_transactions = 0, nta_client_transactions = 0, nta_dialogs = 0;
  AdmissionCounters admission;
  bool batch_reads = false;  // UdpReader reads the SIP UDP socket (sip.batch_reads)
  UdpReaderCounters udp_reader;
  // Every SIP request received, by method ("other" included), and every
  // response sent or relayed, by class (index 1..6).
  std::vector<std::pair<std::string, std::uint64_t>> requests_by_method;
  std::uint64_t responses_by_class[7] = {};
};

// One AOR's bindings as stored here (GET /registrations).
struct RegistrationView {
  std::string aor;
  std::string key;  // hex
  bool primary = false;
  std::uint64_t version = 0;
  std::vector<std::string> contacts;  // as a 200 to REGISTER lists them
  std::vector<std::pair<std::string, std::string>> paths;  // contact URI -> the edge's Path
  std::string node{};  // the owner's URI, when listed from the whole ring ("" = stored here)
};

// GET /registrations?scope=ring: every node's own records, from a ring walk.
struct RingRegistrations {
  std::vector<RegistrationView> registrations;  // ring order
  std::size_t nodes = 0;        // nodes the walk found
  std::vector<std::string> unanswered;  // nodes that did not answer (their records are missing)
  bool walk_complete = false;   // the walk came back round
};

// One credential as stored here, never its hashes (GET /users).
struct UserView {
  std::string aor, user, realm;
  bool primary = false;
  std::uint64_t version = 0;
  std::int64_t expires_in_s = 0;
};

// GET / and /ring.svg: the node, the ring walk, and whose records we keep.
struct RingPageView {
  NodeSnapshot node;
  std::vector<NodeView> walked;  // ring order, from this node
  bool complete = false;         // the walk came back round
  std::map<std::string, std::size_t> replicated_here;  // owner address -> its records we keep copies of
};

// ---- renderers (pure)
std::string render_status_json(const NodeSnapshot& s);
std::string render_status_text(const NodeSnapshot& s, const std::string& what);  // status | successors | fingers
std::string render_metrics(const NodeSnapshot& s);  // Prometheus text format
std::string render_registrations_json(const std::vector<RegistrationView>& r);
std::string render_registrations_text(const std::vector<RegistrationView>& r);
std::string render_ring_registrations_json(const RingRegistrations& r);
std::string render_ring_registrations_text(const RingRegistrations& r);
std::string render_users_json(const std::vector<UserView>& u);
std::string render_users_text(const std::vector<UserView>& u);
std::string render_ring_walk(const std::vector<NodeView>& nodes, bool json);
std::string render_ring_svg_document(const RingPageView& v);
std::string render_ring_page(const RingPageView& v);

}  // namespace sippeer::adaptor
