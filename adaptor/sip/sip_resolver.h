// RFC 3263 server location for the DNS branch of a fork: NAPTR, then SRV,
// then A, on Sofia's asynchronous resolver in the SIP thread.
//
// nta would resolve a sip:user@domain target itself, but then the proxy
// learns the server's address only after sending. Resolving here first
// lets it see that DNS points back into the ring (the domain's SRV names
// sippeer nodes) and take the ring's answer instead of sending a second
// copy round the ring (report 3.5.2, "pointing back").
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "adaptor/sip/sofia.h"

struct sres_resolver_s;
union sres_record;

namespace sippeer::adaptor {

class SipResolver {
 public:
  struct Target {
    std::string ip;          // IPv4 literal (the daemon is IPv4 only)
    int port = 5060;
    std::string transport;   // "udp", "tcp" or "tls"
    std::string address() const { return ip + ":" + std::to_string(port); }
  };
  // targets in RFC 3263 order (empty when the domain has no SIP server);
  // error says why when empty ("no NAPTR/SRV/A records", "timeout", ...).
  using Done = std::function<void(std::vector<Target> targets, std::string error)>;

  // resolv_conf "" = the system's /etc/resolv.conf. Sofia's parser also
  // accepts `port N`, which lets tests use a server on a high port.
  SipResolver(su_root_t* root, const std::string& resolv_conf);
  ~SipResolver();
  SipResolver(const SipResolver&) = delete;
  SipResolver& operator=(const SipResolver&) = delete;

  bool ok() const { return res_ != nullptr; }
  // Starts locating the SIP servers of `domain` (or takes an IPv4 literal
  // as it is). A URI's explicit port skips NAPTR and SRV (RFC 3263 4.2);
  // its transport parameter ("udp"/"tcp", "" = any) picks the SRV.
  // `done` runs once, from the event loop, unless cancelled. Returns a
  // handle for cancel(); 0 when the resolver is unusable (done is then
  // never called).
  // `sips`: a sips: URI, so TLS targets only (NAPTR SIPS+D2T, SRV
  // _sips._tcp, else the domain at 5061).
  std::uint64_t resolve(const std::string& domain, int port, const std::string& transport, Done done,
                        bool sips = false);
  void cancel(std::uint64_t handle);

  // For Sofia's answer callback only.
  struct Query;
  void answered(Query* q, sres_record** answers);

 private:
  struct Lookup;
  void naptr_done(Lookup* l, sres_record** answers);
  void next_srv(Lookup* l);
  void srv_done(Lookup* l, sres_record** answers);
  void query_addresses(Lookup* l);
  void address_done(Lookup* l, std::size_t index, sres_record** answers);
  void send(Lookup* l, std::uint16_t type, const std::string& name, std::size_t index);
  void finish(Lookup* l, const std::string& error);
  static void on_deferred(su_root_magic_t*, su_timer_t*, void* arg);

  sres_resolver_s* res_ = nullptr;
  su_root_t* root_ = nullptr;
  std::uint64_t next_handle_ = 1;
  std::unordered_map<std::uint64_t, std::unique_ptr<Lookup>> lookups_;
  // "cannot send a query" is logged at most every 10 s, with a count: with
  // no reachable DNS server every call's DNS branch fails the same way,
  // and a line per call flooded the log (900,000 lines in 5 minutes of
  // bench/soak.sh) and cost the node CPU.
  std::chrono::steady_clock::time_point send_warned_{};
  std::uint64_t send_warnings_held_ = 0;
};

}  // namespace sippeer::adaptor
