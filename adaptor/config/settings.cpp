// The schema table, and what is generated from it: value parsing and
// printing, validation, --help and the configuration reference.
#include "adaptor/config/settings.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <cerrno>
#include <sstream>

#include <unistd.h>

namespace sippeer::adaptor {
namespace {

// Reasons go into the descriptions (and at more length into
// etc/sippeer.yaml): the reference should say why a default is what it is.
const std::vector<SettingInfo> kSchema = {
    // sip
    {.key = "sip.port", .type = "int", .range = "0..65535", .default_text = "5060",
     .flag = "-p, --port PORT",
     .description = "UDP port for SIP, and TCP port when sip.tcp is on. 5060 is the SIP default "
                    "port, so phones given just the host find the node; 0 picks a free port, "
                    "for tests that run many nodes on one host.",
     .field = &Settings::port, .min = 0, .max = 65535},
    {.key = "sip.listen", .type = "string", .range = "IPv4 address or \"\"", .default_text = "\"\"",
     .flag = "--listen ADDR",
     .description = "IPv4 address to bind and to advertise to the ring. Empty picks the host's "
                    "first non-loopback IPv4 address, the one LAN peers can usually reach.",
     .field = &Settings::listen},
    {.key = "sip.tcp", .type = "bool", .range = "", .default_text = "true", .flag = "",
     .description = "Also accept SIP over TCP on the same port. Phones switch to TCP for "
                    "requests too large for UDP (RFC 3261 section 18.1.1).",
     .field = &Settings::tcp},
    {.key = "sip.batch_reads", .type = "bool", .range = "", .default_text = "true", .flag = "",
     .description = "Read the SIP UDP socket many datagrams at a time (recvmmsg) instead of Sofia's "
                    "one datagram and three system calls per wake-up: less CPU per request under load. "
                    "Off gives reading back to Sofia's tport, as before; it is also off while "
                    "log.sip_trace is set, since tport writes the trace as it reads.",
     .field = &Settings::batch_reads},
    {.key = "sip.transaction_lifetime_ms", .type = "int", .range = "4000..64000", .default_text = "18000",
     .flag = "",
     .description = "What RFC 3261 calls 64*T1 (32 s there): how long a transaction waits for a final "
                    "answer (Timers B and F) and keeps a finished one to absorb retransmissions (Timers "
                    "H and J). A request relayed statefully (an INVITE fork, a flow's edge, a DNS + P2P "
                    "lookup to a domain with a SIP server, TCP or TLS) holds ~20 KB for this long; most UDP "
                    "relays hold no transaction, nor does a MESSAGE forked to UDP phones, whose phones "
                    "may take this long to answer. Kamailio keeps finished "
                    "transactions 5 s. It must cover the longest overlay wait, 8 x "
                    "overlay.request_timeout_ms, plus 2 s (18 s with the defaults).",
     .field = &Settings::transaction_lifetime_ms, .min = 4000, .max = 64000},
    // discovery
    {.key = "discovery.enabled", .type = "bool", .range = "", .default_text = "true",
     .flag = "-N, --no-discovery",
     .description = "Look for an existing ring at startup (multicast, bootstrap peers, DNS SRV, "
                    "peers cached from the last run). Off (-N) starts a ring of our own at once.",
     .field = &Settings::discovery},
    {.key = "discovery.multicast", .type = "bool", .range = "", .default_text = "true",
     .flag = "--no-multicast",
     .description = "Send a REGISTER to 224.0.1.75:5060 (sip.mcast.net) to find ring members on "
                    "the LAN with no configuration. Turn off where multicast is filtered or unwelcome.",
     .field = &Settings::multicast},
    {.key = "discovery.multicast_timeout_ms", .type = "int", .range = "100..120000",
     .default_text = "3000", .flag = "",
     .description = "How long to wait for answers to the multicast REGISTER before trying the "
                    "next way in. Three seconds cover a busy LAN without keeping a lone first node waiting.",
     .field = &Settings::multicast_timeout_ms, .min = 100, .max = 120000},
    {.key = "discovery.bootstrap", .type = "list<string>", .range = "HOST:PORT | DOMAIN",
     .default_text = "[]", .flag = "--bootstrap HOST:PORT",
     .description = "Ring members to join through, tried in order; HOST may be a name. A bare "
                    "DOMAIN is looked up as DNS SRV _sip._udp.DOMAIN (report 3.3.2). Needed "
                    "where multicast does not reach, e.g. across routers. The flag may be repeated.",
     .field = &Settings::bootstrap, .live = true},
    {.key = "discovery.rediscover_s", .type = "int", .range = "10..86400", .default_text = "300",
     .flag = "",
     .description = "A node alone in its ring retries discovery this often, so rings started "
                    "apart (e.g. on both sides of a network split) merge once they see each other.",
     .field = &Settings::rediscover_s, .min = 10, .max = 86400, .live = true},
    // overlay
    {.key = "overlay.domain", .type = "string", .range = "DNS name", .default_text = "sippeer.net",
     .flag = "",
     .description = "Logical domain of the ring's keys; DNS SRV _sip._udp.<domain> names "
                    "bootstrap peers. Every node of a ring should use the same value.",
     .field = &Settings::overlay_domain},
    {.key = "overlay.id_bits", .type = "int", .range = "3..160", .default_text = "160",
     .flag = "--id-bits BITS",
     .description = "Width of ring ids in bits: 160 (SHA-1) in production; small widths make "
                    "test rings readable. Every node of a ring must use the same value.",
     .field = &Settings::id_bits, .min = 3, .max = 160},
    {.key = "overlay.node_id", .type = "string", .range = "id below 2^id_bits",
     .default_text = "\"\"", .flag = "--node-id ID",
     .description = "Fixed ring id for tests: decimal when id_bits <= 64, else hex. Empty uses "
                    "the SHA-1 of ip:port, which spreads nodes evenly over the ring.",
     .field = &Settings::node_id},
    {.key = "overlay.stabilize_ms", .type = "int", .range = "10..600000", .default_text = "5000",
     .flag = "--stabilize-ms MS",
     .description = "Period of Chord stabilization (checking neighbours, fixing fingers). Five "
                    "seconds keep upkeep under 500 B/s per node while a dead neighbour is noticed in seconds.",
     .field = &Settings::stabilize_ms, .min = 10, .max = 600000},
    {.key = "overlay.successors", .type = "int", .range = "1..64", .default_text = "16",
     .flag = "",
     .description = "Length of the successor list. 16 keeps the ring whole even when half the "
                    "nodes fail at once; must be at least overlay.replicas.",
     .field = &Settings::successors, .min = 1, .max = 64},
    {.key = "overlay.replicas", .type = "int", .range = "0..16", .default_text = "3", .flag = "",
     .description = "Copies of each registration kept on successors besides the responsible "
                    "node's own, so bindings survive that many failures. At most overlay.successors.",
     .field = &Settings::replicas, .min = 0, .max = 16},
    {.key = "overlay.replica_batch_ms", .type = "int", .range = "0..1000", .default_text = "20", .flag = "",
     .description = "How long a registration stored here waits for others going to the same "
                    "successor before one Transfer carries them all to it. Replication then costs a "
                    "message per successor per window instead of one per REGISTER; the window only "
                    "delays the replicas, never the phone's 200. 0 sends each record at once.",
     .field = &Settings::replica_batch_ms, .min = 0, .max = 1000},
    {.key = "overlay.request_timeout_ms", .type = "int", .range = "100..32000",
     .default_text = "2000", .flag = "",
     .description = "An overlay request unanswered this long marks the peer dead so lookups "
                    "route around it. Two seconds are far above LAN round trips yet let the ring heal quickly.",
     .field = &Settings::request_timeout_ms, .min = 100, .max = 32000},
    {.key = "overlay.secret", .type = "string", .range = "string", .default_text = "\"\"", .flag = "",
     .description = "Pre-shared key of the ring. When set, every overlay message is signed with "
                    "HMAC-SHA256 and a node without the key cannot join, store, or make a node believe "
                    "its neighbours left; it is not even answered by multicast discovery. Every node of a "
                    "ring must hold the same key. Empty (the quick start) admits anyone who can reach the "
                    "port, and a node that listens on a non-loopback address then warns at start.",
     .field = &Settings::overlay_secret},
    {.key = "overlay.secret_file", .type = "string", .range = "file path", .default_text = "\"\"", .flag = "",
     .description = "A file whose first line is the key, instead of overlay.secret, so the key "
                    "need not sit in a config file others may read. Not both.",
     .field = &Settings::overlay_secret_file},
    {.key = "overlay.previous_secret", .type = "string", .range = "string", .default_text = "\"\"",
     .flag = "",
     .description = "The old key during a key change: messages signed with it are still accepted, "
                    "ours are signed with overlay.secret. Set the new key as overlay.secret and the old "
                    "one here on every node, restart them one by one, then remove this.",
     .field = &Settings::overlay_previous_secret},
    {.key = "overlay.auth_window_s", .type = "int", .range = "5..3600", .default_text = "30", .flag = "",
     .description = "How far the time in a signed overlay message may differ from our clock. "
                    "Replays are refused by nonce within it and by time after it; 30 s is far above "
                    "the skew of NTP-synchronised hosts while the nonce table stays small.",
     .field = &Settings::overlay_auth_window_s, .min = 5, .max = 3600},
    {.key = "overlay.transport", .type = "string", .range = "udp|tls", .default_text = "udp", .flag = "",
     .description = "How nodes send overlay messages to each other. tls: over TLS to each peer's TLS "
                    "port (its sip.port + 1: every node of such a ring keeps tls.port at 0), checking "
                    "the peer's certificate against tls.ca; needs tls.certificate, tls.private_key "
                    "and tls.ca on every node. udp: plain, protected by overlay.secret.",
     .field = &Settings::overlay_transport},
    {.key = "overlay.next_level", .type = "list<string>", .range = "HOST:PORT", .default_text = "[]", .flag = "",
     .description = "Nodes of the next-level (global) ring (report 6.4). This node registers each of "
                    "proxy.p2p_domains there as sip:<domain> with itself as the contact, and sends "
                    "requests for users of other domains there instead of to DNS. [] = no next level.",
     .field = &Settings::next_level},
    {.key = "overlay.domain_fallback", .type = "bool", .range = "", .default_text = "false", .flag = "",
     .description = "This ring is a next level for domain rings (report 6.4): a request for user@domain "
                    "with no binding is forwarded to the nodes registered under sip:<domain>, if any, "
                    "instead of 404.",
     .field = &Settings::domain_fallback, .live = true},
    // tls
    {.key = "tls.port", .type = "int", .range = "0..65535", .default_text = "0", .flag = "",
     .description = "TCP port for SIP over TLS (sips:), when tls.certificate is set. 0 means "
                    "sip.port + 1, which is 5061, the SIPS default, with the default sip.port.",
     .field = &Settings::tls_port, .min = 0, .max = 65535},
    {.key = "tls.certificate", .type = "string", .range = "PEM file", .default_text = "\"\"", .flag = "",
     .description = "This node's certificate (PEM, the chain after it) for SIP over TLS. Empty: no "
                    "TLS. Phones check it against the CA that signed it.",
     .field = &Settings::tls_certificate},
    {.key = "tls.private_key", .type = "string", .range = "PEM file", .default_text = "\"\"", .flag = "",
     .description = "The private key of tls.certificate (PEM, unencrypted). Keep it readable by the "
                    "daemon's user only.",
     .field = &Settings::tls_private_key},
    {.key = "tls.ca", .type = "string", .range = "PEM file", .default_text = "\"\"", .flag = "",
     .description = "CA certificates (PEM) that the certificates of TLS peers this node connects to "
                    "are checked against: other nodes with overlay.transport tls, phones and servers "
                    "reached by sips:.",
     .field = &Settings::tls_ca},
    // admin
    {.key = "admin.listen", .type = "string", .range = "ADDR:PORT or \"\"",
     .default_text = "127.0.0.1:8060", .flag = "--admin ADDR:PORT",
     .description = "Address of the admin interface (status and control). Loopback by default "
                    "so only local users reach it; \"\" disables it.",
     .field = &Settings::admin},
    {.key = "admin.token", .type = "string", .range = "string", .default_text = "\"\"", .flag = "",
     .description = "Token that POST requests (leave, user changes) must carry as "
                    "\"Authorization: Bearer TOKEN\"; `sippeer ctl` sends it. Empty: a random one is "
                    "generated into state_dir/admin.token (mode 0600) on first start, readable by "
                    "the daemon's user only. Required when admin.listen is not a loopback address.",
     .field = &Settings::admin_token},
    // state
    {.key = "state_dir", .type = "string", .range = "directory", .default_text = "\"\"",
     .flag = "--state-dir DIR",
     .description = "Where state that outlives a restart is kept, such as peers cached for "
                    "discovery. Empty uses /var/lib/sippeer when writable, else "
                    "$HOME/.local/state/sippeer.",
     .field = &Settings::state_dir},
    // log
    {.key = "log.level", .type = "enum", .range = "error|warn|info|debug", .default_text = "info",
     .flag = "--log-level LEVEL",
     .description = "Least severe message logged. info reports ring and registration events; "
                    "debug adds per-message detail for troubleshooting.",
     .field = &Settings::log_level, .live = true},
    {.key = "log.sip_trace", .type = "string", .range = "file or \"\"", .default_text = "\"\"",
     .flag = "--sip-trace FILE",
     .description = "Append every SIP message received and sent to this file: direction, peer "
                    "address and protocol, time of day, then the full text. For troubleshooting "
                    "a phone; it grows without bound, and answers then all go through Sofia's transaction "
                    "layer (no stateless fast replies), which is slower. Empty: no trace.",
     .field = &Settings::sip_trace},
    // registrar
    {.key = "registrar.min_expires", .type = "int", .range = "1..86400", .default_text = "60",
     .flag = "",
     .description = "Shortest registration accepted; a REGISTER asking for less gets 423 Interval "
                    "Too Brief. Stops phones re-registering so often that replication floods the ring.",
     .field = &Settings::min_expires, .min = 1, .max = 86400, .live = true},
    {.key = "registrar.max_expires", .type = "int", .range = "1..86400", .default_text = "7200",
     .flag = "",
     .description = "Longest registration granted; longer requests are cut down to it, bounding "
                    "how long a vanished phone's binding lingers. At least min_expires and default_expires.",
     .field = &Settings::max_expires, .min = 1, .max = 86400, .live = true},
    {.key = "registrar.default_expires", .type = "int", .range = "1..86400",
     .default_text = "3600", .flag = "",
     .description = "Registration lifetime when a REGISTER names none. One hour is the usual "
                    "registrar default; must lie within min_expires..max_expires.",
     .field = &Settings::default_expires, .min = 1, .max = 86400, .live = true},
    {.key = "registrar.max_contacts", .type = "int", .range = "1..1000", .default_text = "10", .flag = "",
     .description = "Bindings one address of record may have. A REGISTER that would go past it is "
                    "answered 403 and changes nothing: without a bound one user could make every "
                    "call to it fork to thousands of contacts. Ten covers a desk phone, softphones "
                    "and mobiles of one person.",
     .field = &Settings::max_contacts, .min = 1, .max = 1000, .live = true},
    {.key = "registrar.single_contact_user_agents", .type = "list<string>", .range = "User-Agent prefixes",
     .default_text = "[CSCO]", .flag = "",
     .description = "Phones whose User-Agent starts with one of these get a 200 to REGISTER that "
                    "lists only the contacts of that REGISTER, not every binding of the AOR. The "
                    "Cisco 7960 (User-Agent CSCO/7) misbehaves when the 200 lists other phones' contacts.",
     .field = &Settings::single_contact_user_agents, .live = true},
    // proxy
    {.key = "proxy.record_route", .type = "bool", .range = "", .default_text = "false", .flag = "",
     .description = "Add Record-Route so in-dialog requests (ACK, BYE, re-INVITE) pass through "
                    "this node. Off lets phones talk directly once the call is set up.",
     .field = &Settings::record_route, .live = true},
    {.key = "proxy.accept_proxy_require", .type = "list<string>", .range = "option tags",
     .default_text = "[ms-benotify]", .flag = "",
     .description = "Proxy-Require option tags this node accepts and forwards; a request requiring "
                    "any other gets 420 Bad Extension. ms-benotify (Windows Messenger 5 presence) asks "
                    "nothing of a proxy but forwarding, and a 420 leaves Messenger's contacts offline. "
                    "Every hop checks: give all nodes of a ring the same list.",
     .field = &Settings::accept_proxy_require, .live = true},
    {.key = "proxy.lookup", .type = "enum", .range = "parallel|dns-first|p2p-first|p2p-only",
     .default_text = "parallel", .flag = "--lookup MODE",
     .description = "How a call from a phone finds its target (report 3.5.2). parallel forks a DNS "
                    "branch (RFC 3263) and a ring lookup at once, so both peers and the conventional "
                    "SIP world answer with no added delay; dns-first and p2p-first try one and fall "
                    "back to the other only when it finds nobody (404, 408, 480, no server); "
                    "p2p-only never uses DNS.",
     .field = &Settings::lookup, .live = true},
    {.key = "proxy.p2p_domains", .type = "list<string>", .range = "DNS names", .default_text = "[]",
     .flag = "",
     .description = "Domains served by the ring alone: calls to them never go to DNS, which saves "
                    "a lookup (and a DNS timeout where the domain has no records). The overlay "
                    "domain is always P2P-only.",
     .field = &Settings::p2p_domains, .live = true},
    {.key = "proxy.allowed_networks", .type = "list<string>", .range = "IPv4 networks (CIDR)",
     .default_text = "[]", .flag = "",
     .description = "Where phones that may call out are: only requests from these networks are "
                    "sent to other domains (DNS) or to IP hosts that are neither ring nodes nor in "
                    "these networks. Others get 403, so the node is not an open relay; requests "
                    "to users of the ring are served from anywhere, as calls from other segments "
                    "must be. [] means loopback plus the subnets of this host's interfaces.",
     .field = &Settings::allowed_networks},
    // offline messages (issue 17)
    {.key = "offline.enabled", .type = "bool", .range = "", .default_text = "true", .flag = "",
     .description = "A MESSAGE to a user of a ring domain with no binding is kept in the ring (202 "
                    "Accepted) and delivered, in order, when the user next registers. false: 404.",
     .field = &Settings::offline_enabled, .live = true},
    {.key = "offline.max_age_days", .type = "int", .range = "1..365", .default_text = "7", .flag = "",
     .description = "A kept message not delivered within this many days is dropped.",
     .field = &Settings::offline_max_age_days, .min = 1, .max = 365, .live = true},
    {.key = "offline.max_per_user", .type = "int", .range = "1..200", .default_text = "20", .flag = "",
     .description = "Messages kept for one user; one more is refused with 480 (mailbox full). A "
                    "mailbox travels as one record, so this also bounds the record's size.",
     .field = &Settings::offline_max_per_user, .min = 1, .max = 200, .live = true},
    {.key = "offline.max_per_sender", .type = "int", .range = "1..200", .default_text = "5", .flag = "",
     .description = "Messages one sender (From AOR) may have waiting in one mailbox, so that one "
                    "sender cannot fill it for everyone else.",
     .field = &Settings::offline_max_per_sender, .min = 1, .max = 200, .live = true},
    {.key = "offline.max_body_bytes", .type = "int", .range = "0..16384", .default_text = "2048", .flag = "",
     .description = "Largest body kept; a larger MESSAGE to an offline user gets 480. 0 keeps only "
                    "empty bodies.",
     .field = &Settings::offline_max_body_bytes, .min = 0, .max = 16384, .live = true},
    // presence (issue 17)
    {.key = "presence.enabled", .type = "bool", .range = "", .default_text = "true", .flag = "",
     .description = "A SUBSCRIBE for a user with no binding is parked at the user's registrar (202, NOTIFY "
                    "pending, with an offline PIDF for presence) and ended with reason=deactivated when the "
                    "user registers (report 6.1). false: 404.",
     .field = &Settings::presence_enabled, .live = true},
    {.key = "presence.max_parked_per_user", .type = "int", .range = "1..1000", .default_text = "50", .flag = "",
     .description = "Subscriptions parked for one user; one more gets 480.",
     .field = &Settings::presence_max_parked_per_user, .min = 1, .max = 1000, .live = true},
    {.key = "presence.max_expires_s", .type = "int", .range = "60..86400", .default_text = "3600", .flag = "",
     .description = "The longest a parked subscription is granted; the watcher refreshes it within that.",
     .field = &Settings::presence_max_expires_s, .min = 60, .max = 86400, .live = true},
    {.key = "presence.options_probe", .type = "bool", .range = "", .default_text = "true", .flag = "",
     .description = "Before the first SUBSCRIBE to a registered phone, ask it with OPTIONS what it allows "
                    "(report 6.1); a phone whose Allow lacks SUBSCRIBE is not sent one, and when no phone of "
                    "the user takes it, the subscription is parked. false: fork to every phone.",
     .field = &Settings::presence_options_probe, .live = true},
    // pstn (issue 17)
    {.key = "pstn.redirect", .type = "bool", .range = "", .default_text = "true", .flag = "",
     .description = "A call to a telephone number goes to the gateways registered for its longest "
                    "prefix: true answers 302 listing them cheapest first (report 6.2.2); false proxies "
                    "the call to the cheapest. A caller's Request-Disposition: proxy|redirect wins.",
     .field = &Settings::pstn_redirect, .live = true},
    // dns
    {.key = "dns.timeout_ms", .type = "int", .range = "100..32000", .default_text = "3000",
     .flag = "",
     .description = "The DNS branch of a fork must resolve and draw a first answer from the server "
                    "it found within this time, else it ends as unanswered; it bounds how long a "
                    "call to nobody waits. Three seconds cover a slow resolver and one SIP retransmission.",
     .field = &Settings::dns_timeout_ms, .min = 100, .max = 32000, .live = true},
    {.key = "dns.negative_ttl_s", .type = "int", .range = "0..300", .default_text = "30",
     .flag = "",
     .description = "When DNS finds no SIP server of a domain's own (no NAPTR, SRV or A record, an "
                    "unreachable resolver, or a node of this ring among its targets), calls to that domain "
                    "go through the ring alone for this many seconds, relayed without a transaction, "
                    "instead of forking to DNS each time. 0 asks DNS every time; RFC 2308 caps it at 300.",
     .field = &Settings::dns_negative_ttl_s, .min = 0, .max = 300, .live = true},
    {.key = "dns.resolv_conf", .type = "string", .range = "file", .default_text = "\"\"",
     .flag = "--resolv-conf FILE",
     .description = "Resolver configuration for the DNS branch (and nta's own lookups). Empty uses "
                    "/etc/resolv.conf; tests point it at a file naming a local server, where Sofia's "
                    "resolver also reads a `port N` line.",
     .field = &Settings::resolv_conf},
    // overload
    {.key = "overload.max_backlog_kb", .type = "int", .range = "0..65536", .default_text = "4096",
     .flag = "",
     .description = "Admission control: when the datagrams waiting in the SIP UDP socket stay above "
                    "half this many KB for a whole 200 ms window, a share of new requests (from phones or relayed by other nodes), "
                    "growing to all at the limit, is answered 503 with Retry-After at once instead of "
                    "waiting until their retransmissions snowball. 4 MB (kernel-counted) is some 150 ms "
                    "of work at 20,000 requests/s, below the 500 ms after which phones retransmit; at "
                    "most half the socket buffer; 0 turns it off.",
     .field = &Settings::overload_backlog_kb, .min = 0, .max = 65536, .live = true},
    {.key = "overload.max_transactions", .type = "int", .range = "0..10000000",
     .default_text = "50000", .flag = "",
     .description = "Admission control: with this many proxied requests still waiting for their "
                    "answer, new requests (from phones or relayed by other nodes) get 503 with Retry-After. Bounds memory "
                    "(Sofia keeps 17-37 KB per proxied request); 0 turns it off.",
     .field = &Settings::overload_transactions, .min = 0, .max = 10000000, .live = true},
    {.key = "overload.retry_after_s", .type = "int", .range = "1..3600", .default_text = "2",
     .flag = "",
     .description = "Retry-After of the overload 503: how long a phone should wait before trying "
                    "this node again. Short, because overload on a LAN node passes quickly.",
     .field = &Settings::overload_retry_after_s, .min = 1, .max = 3600, .live = true},
    // auth
    {.key = "auth.mode", .type = "string", .range = "off|provisioned|email", .default_text = "\"off\"", .flag = "",
     .description = "Who must prove who they are (digest, RFC 3261 22). off: nobody (the quick start and "
                    "the interop guides; a node on a non-loopback address warns). provisioned: a REGISTER "
                    "is challenged by the AOR's responsible node (401) and a phone's out-of-dialog request "
                    "by its edge node (407), against credentials stored in the ring (`sippeer ctl user "
                    "add`). email: as provisioned, and the first REGISTER of an unknown AOR makes the "
                    "responsible node mail it a password (report 5.2; needs auth.smtp).",
     .field = &Settings::auth_mode, .live = true},
    {.key = "auth.algorithms", .type = "list<string>", .range = "MD5, SHA-256", .default_text = "[MD5]",
     .flag = "",
     .description = "Digest algorithms a challenge offers, one WWW-Authenticate (or Proxy-Authenticate) "
                    "each, in this order; every credential holds both hashes. MD5 alone by default, "
                    "because the phones in Debian fail when SHA-256 is offered at all: baresip 1.0 "
                    "(libre) gives up with ENOSYS on a SHA-256 challenge even beside an MD5 one, and "
                    "sipp 3.6 answers only the first challenge. With phones that know RFC 8760, list "
                    "[SHA-256, MD5] (they take the first they know) or [SHA-256].",
     .field = &Settings::auth_algorithms, .live = true},
    {.key = "auth.realm", .type = "string", .range = "string", .default_text = "\"\"", .flag = "",
     .description = "The digest realm of every user. Empty: each AOR's own domain, as the report says, "
                    "so alice@example.com signs in to realm example.com. A credential is made for its "
                    "realm: change it only before adding users.",
     .field = &Settings::auth_realm},
    {.key = "auth.domains", .type = "list<string>", .range = "domain names", .default_text = "[]", .flag = "",
     .description = "Domains all of whose users are provisioned: a request from a user of one of them "
                    "without a credential is refused (403). Users of other domains are challenged only "
                    "when the ring holds a credential for them, so calls from a foreign domain still "
                    "come in. Empty: the domains of proxy.p2p_domains.",
     .field = &Settings::auth_domains, .live = true},
    {.key = "auth.nonce_lifetime_s", .type = "int", .range = "10..86400", .default_text = "300", .flag = "",
     .description = "How long a challenge's nonce stays good. Older: 401/407 with stale=true, which "
                    "phones answer with the password they have, without asking the user.",
     .field = &Settings::auth_nonce_lifetime_s, .min = 10, .max = 86400},
    {.key = "auth.max_failures", .type = "int", .range = "1..10000", .default_text = "10", .flag = "",
     .description = "Failed sign-ins (wrong password, unknown user, replayed nonce) from one IP address, "
                    "or for one AOR, within auth.failure_window_s before every further attempt gets "
                    "403 until the window ends. One log line says so. A password cracker gets ten guesses "
                    "a minute.",
     .field = &Settings::auth_max_failures, .min = 1, .max = 10000},
    {.key = "auth.failure_window_s", .type = "int", .range = "1..86400", .default_text = "60", .flag = "",
     .description = "The window of auth.max_failures.",
     .field = &Settings::auth_failure_window_s, .min = 1, .max = 86400},
    {.key = "auth.credential_ttl_days", .type = "int", .range = "1..3650", .default_text = "30", .flag = "",
     .description = "A credential not used for this long expires (report 5.2: one month). Each "
                    "successful REGISTER renews it, at most once a day.",
     .field = &Settings::auth_credential_ttl_days, .min = 1, .max = 3650},
    {.key = "auth.cache_entries", .type = "int", .range = "0..1000000", .default_text = "10000", .flag = "",
     .description = "Credentials an edge node keeps after fetching them from the ring to check its "
                    "phones' calls (least recently used dropped first); 0 fetches every time.",
     .field = &Settings::auth_cache_entries, .min = 0, .max = 1000000},
    {.key = "auth.cache_ttl_s", .type = "int", .range = "0..3600", .default_text = "30", .flag = "",
     .description = "How long a fetched credential is used before it is fetched again. A failed check "
                    "drops it at once, so a changed password takes effect on the phone's next try.",
     .field = &Settings::auth_cache_ttl_s, .min = 0, .max = 3600},
    {.key = "auth.smtp", .type = "string", .range = "host:port", .default_text = "\"\"", .flag = "",
     .description = "SMTP relay for auth.mode email (plain SMTP, no login: a relay on the LAN or "
                    "localhost).",
     .field = &Settings::auth_smtp},
    {.key = "auth.mail_from", .type = "string", .range = "e-mail address", .default_text = "sippeer@localhost",
     .flag = "",
     .description = "Sender of the sign-up mails.",
     .field = &Settings::auth_mail_from},
    {.key = "auth.signups_per_hour", .type = "int", .range = "1..10000", .default_text = "5", .flag = "",
     .description = "Sign-up mails that REGISTERs from one IP address may cause per hour at each node "
                    "(the AOR's responsible node mails and counts), so the ring cannot be made to spam "
                    "(report 5.2's worry): a ring of N nodes mails at most N times this per source.",
     .field = &Settings::auth_signups_per_source, .min = 1, .max = 10000},
    // limits
    {.key = "limits.per_source_rate", .type = "int", .range = "0..1000000", .default_text = "500", .flag = "",
     .description = "Requests per second one IP address may send (a token bucket with twice this "
                    "as its burst). Past it: 503 with Retry-After, then silence while the flood goes "
                    "on, so one source cannot starve the phones of others. Ring nodes are exempt. "
                    "500/s is far above any phone or small PBX; 0 turns it off (benchmarks).",
     .field = &Settings::per_source_rate, .min = 0, .max = 1000000, .live = true},
    {.key = "limits.per_source_transactions", .type = "int", .range = "0..1000000", .default_text = "200",
     .flag = "",
     .description = "Proxied requests one IP address may have waiting for their answer at once. "
                    "Past it: 503. Each costs 17-37 KB until it ends; this keeps one source from "
                    "holding the memory overload.max_transactions shares among all. 0 turns it off.",
     .field = &Settings::per_source_transactions, .min = 0, .max = 1000000, .live = true},
    {.key = "limits.max_message_bytes", .type = "int", .range = "1024..1048576", .default_text = "65536",
     .flag = "",
     .description = "Largest SIP message accepted; larger requests get 413 (and responses are dropped). SIP "
                    "requests are a few KB; 64 KB leaves room for big SDP and presence bodies.",
     .field = &Settings::max_message_bytes, .min = 1024, .max = 1048576},
    {.key = "limits.max_records", .type = "int", .range = "100..100000000", .default_text = "1000000",
     .flag = "",
     .description = "Records (registered addresses of record) this node keeps as their "
                    "responsible node. A REGISTER for a new address beyond it gets 503, so a flood "
                    "of made-up users cannot exhaust memory; records already kept are refreshed, "
                    "and replicas are always taken (refusing them would lose data). A million "
                    "records is about 1 GB.",
     .field = &Settings::max_records, .min = 100, .max = 100000000, .live = true},
};

const std::vector<OptionInfo> kCommandLineOnly = {
    {"-c, --config FILE",
     "YAML configuration file (see etc/sippeer.yaml). Without one the built-in defaults apply."},
    {"--check-config [FILE]",
     "Load and validate the configuration (FILE, else --config) and the other flags without "
     "starting; print every error; exit 0 when valid, 78 (EX_CONFIG) when not."},
    {"--config-reference", "Print the configuration reference (docs/CONFIG.md) and exit."},
    {"-h, --help", "Print this help and exit."},
    {"-V, --version", "Print the version and exit."},
};

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
// Spelled out for clang 14 (the fuzz build), which lacks aggregate CTAD.
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// --- value parsing and printing ------------------------------------------

std::string set_int(const SettingInfo& row, int& field, const std::string& text) {
  long long v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  std::string range = std::to_string(row.min) + ".." + std::to_string(row.max);
  if (text.empty() || end != text.data() + text.size() ||
      (ec != std::errc() && ec != std::errc::result_out_of_range))
    return "expected int in " + range + ", got '" + text + "'";
  if (ec == std::errc::result_out_of_range || v < row.min || v > row.max)
    return text + " is out of range " + range;
  field = static_cast<int>(v);
  return "";
}

std::optional<bool> parse_bool(const std::string& text) {
  // YAML 1.1 spellings, which is what people write in YAML files.
  std::string t = lower(text);
  if (t == "true" || t == "yes" || t == "on") return true;
  if (t == "false" || t == "no" || t == "off") return false;
  return std::nullopt;
}

// An enum row from its text; the row's range lists the spellings.
template <typename Enum, typename Parse>
std::string set_enum(const SettingInfo& row, Enum& field, const std::string& text, Parse parse) {
  if (auto value = parse(lower(text))) {
    field = *value;
    return "";
  }
  std::vector<std::string> names;
  for (std::string_view r = row.range; !r.empty();) {
    const auto bar = r.find('|');
    names.emplace_back(r.substr(0, bar));
    r = bar == std::string_view::npos ? std::string_view() : r.substr(bar + 1);
  }
  std::string msg = std::string("expected one of ") + row.range + ", got '" + text + "'";
  std::string hint = closest_match(text, names);
  if (!hint.empty()) msg += "; did you mean '" + hint + "'?";
  return msg;
}

bool is_plain_safe(const std::string& s) {
  // Quote anything YAML might read as something other than this string.
  if (s.empty() || !std::isalnum(static_cast<unsigned char>(s[0]))) return false;
  if (parse_bool(s) || lower(s) == "null") return false;
  if (std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) || c == '.'; }))
    return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || std::string_view("._:/@-").find(static_cast<char>(c)) != std::string_view::npos;
  });
}

std::string yaml_string(const std::string& s) {
  if (is_plain_safe(s)) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// --- validation ------------------------------------------------------------

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// Dotted quad, each part 0..255 without leading zeros (which some parsers
// read as octal, so they are ambiguous).
bool is_ipv4(std::string_view s) {
  int parts = 0;
  while (true) {
    auto dot = s.find('.');
    std::string_view part = s.substr(0, dot);
    if (!all_digits(part) || part.size() > 3 || (part.size() > 1 && part[0] == '0')) return false;
    if (std::stoi(std::string(part)) > 255) return false;
    ++parts;
    if (dot == std::string_view::npos) break;
    s.remove_prefix(dot + 1);
  }
  return parts == 4;
}

bool is_dns_name(std::string_view s) {
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  if (s.empty() || s.size() > 253) return false;
  // All-numeric names are mistyped addresses, not names.
  if (std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) || c == '.'; }))
    return false;
  while (true) {
    auto dot = s.find('.');
    std::string_view label = s.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (unsigned char c : label)
      if (!std::isalnum(c) && c != '-') return false;
    if (dot == std::string_view::npos) return true;
    s.remove_prefix(dot + 1);
  }
}

bool is_port(std::string_view s, int min) {
  if (!all_digits(s) || s.size() > 5) return false;
  int p = std::stoi(std::string(s));
  return p >= min && p <= 65535;
}

// HOST:PORT where HOST is an IPv4 literal, or also a DNS name if allowed.
bool is_host_port(std::string_view s, bool names) {
  auto colon = s.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view host = s.substr(0, colon);
  return is_port(s.substr(colon + 1), 1) && (is_ipv4(host) || (names && is_dns_name(host)));
}

// Mirrors dht::Ring::parse (decimal up to 64 bits, else hex) without
// linking the dht library, and checks the id fits the ring.
bool node_id_fits(const std::string& text, int bits) {
  if (bits <= 64) {
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return false;
    return bits == 64 || v < (std::uint64_t{1} << bits);
  }
  if (text.empty() || text.size() > 40 ||
      !std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isxdigit(c); }))
    return false;
  // Significant bits: 4 per digit after leading zeros, less the top digit's unused ones.
  auto first = text.find_first_not_of('0');
  if (first == std::string::npos) return true;
  int top = std::isdigit(static_cast<unsigned char>(text[first])) ? text[first] - '0'
                                                                   : std::tolower(text[first]) - 'a' + 10;
  int top_bits = top >= 8 ? 4 : top >= 4 ? 3 : top >= 2 ? 2 : 1;
  int used = static_cast<int>(text.size() - first - 1) * 4 + top_bits;
  return used <= bits;
}

void check_ranges(const Settings& s, const std::string& file, std::vector<ConfigError>& out) {
  for (const auto& row : kSchema) {
    auto* member = std::get_if<int Settings::*>(&row.field);
    if (!member) continue;
    int v = s.**member;
    if (v < row.min || v > row.max)
      out.push_back({file, 0, 0, row.key,
                     std::to_string(v) + " is out of range " + row.range});
  }
}

void check_addresses(const Settings& s, const std::string& file, std::vector<ConfigError>& out) {
  if (!s.listen.empty() && !is_ipv4(s.listen))
    out.push_back({file, 0, 0, "sip.listen",
                   "'" + s.listen + "' is not an IPv4 address (e.g. 192.0.2.10); leave it empty "
                   "to use the host's first non-loopback IPv4 address"});
  // A bare domain (no port) is looked up as SRV _sip._udp.<domain>.
  for (std::size_t i = 0; i < s.next_level.size(); ++i)
    if (!is_host_port(s.next_level[i], true))
      out.push_back({file, 0, 0, "overlay.next_level[" + std::to_string(i) + "]",
                     "'" + s.next_level[i] + "' is not HOST:PORT (e.g. 192.0.2.10:5060)"});
  for (std::size_t i = 0; i < s.bootstrap.size(); ++i)
    if (!is_host_port(s.bootstrap[i], true) && !is_dns_name(s.bootstrap[i]))
      out.push_back({file, 0, 0, "discovery.bootstrap[" + std::to_string(i) + "]",
                     "'" + s.bootstrap[i] + "' is neither HOST:PORT (e.g. 192.0.2.10:5060 or "
                     "sip.example.net:5060) nor a domain whose SRV _sip._udp record names the ring"});
  if (!s.admin.empty() && !is_host_port(s.admin, false))
    out.push_back({file, 0, 0, "admin.listen",
                   "'" + s.admin + "' is not ADDR:PORT with an IPv4 address (e.g. "
                   "127.0.0.1:8060); use \"\" to disable the admin interface"});
  auto readable = [&](const std::string& path, const char* key) {
    if (path.empty()) return;
    if (::access(path.c_str(), R_OK) != 0)
      out.push_back({file, 0, 0, key, "cannot read " + path + ": " + std::strerror(errno)});
  };
  readable(s.tls_certificate, "tls.certificate");
  readable(s.tls_private_key, "tls.private_key");
  readable(s.tls_ca, "tls.ca");
  if (s.tls_certificate.empty() != s.tls_private_key.empty())
    out.push_back({file, 0, 0, s.tls_certificate.empty() ? "tls.certificate" : "tls.private_key",
                   "tls.certificate and tls.private_key go together"});
  if (s.auth_mode != "off" && s.auth_mode != "provisioned" && s.auth_mode != "email")
    out.push_back({file, 0, 0, "auth.mode", "'" + s.auth_mode + "' is none of off, provisioned, email"});
  if (s.auth_mode == "email" && !is_host_port(s.auth_smtp, true))
    out.push_back({file, 0, 0, "auth.smtp", "auth.mode email needs auth.smtp as HOST:PORT (e.g. 127.0.0.1:25)"});
  if (s.overlay_transport != "udp" && s.overlay_transport != "tls")
    out.push_back({file, 0, 0, "overlay.transport", "'" + s.overlay_transport + "' is neither udp nor tls"});
  if (s.overlay_transport == "tls" && (s.tls_certificate.empty() || s.tls_ca.empty()))
    out.push_back({file, 0, 0, "overlay.transport",
                   "tls needs tls.certificate, tls.private_key and tls.ca (peers' certificates are checked)"});
  if (s.overlay_transport == "tls" && s.tls_port != 0)
    out.push_back({file, 0, 0, "tls.port",
                   "must stay 0 (sip.port + 1) with overlay.transport tls: peers find a node's TLS port that way"});
  if (!s.admin.empty() && is_host_port(s.admin, false) && s.admin.rfind("127.", 0) != 0 && s.admin_token.empty())
    out.push_back({file, 0, 0, "admin.token",
                   "admin.listen " + s.admin + " is reachable from other hosts: set admin.token "
                   "(e.g. openssl rand -hex 32) or listen on 127.0.0.1"});
  if (!is_dns_name(s.overlay_domain))
    out.push_back({file, 0, 0, "overlay.domain",
                   "'" + s.overlay_domain + "' is not a DNS domain name (e.g. sippeer.net)"});
}

bool in_range(const Settings& s, const char* key) {
  const SettingInfo& row = *find_setting(key);
  int v = s.*std::get<int Settings::*>(row.field);
  return v >= row.min && v <= row.max;
}

// Cross-field checks only compare values that are in range themselves: an
// out-of-range one is reported already and would only add noise here.
void check_overlay(const Settings& s, const std::string& file, std::vector<ConfigError>& out) {
  if (!s.overlay_secret.empty() && !s.overlay_secret_file.empty())
    out.push_back({file, 0, 0, "overlay.secret_file", "set overlay.secret or overlay.secret_file, not both"});
  if (!s.overlay_previous_secret.empty() && s.overlay_secret.empty() && s.overlay_secret_file.empty())
    out.push_back({file, 0, 0, "overlay.previous_secret", "is only meaningful with overlay.secret or overlay.secret_file"});
  if (in_range(s, "overlay.successors") && in_range(s, "overlay.replicas") && s.replicas > s.successors)
    out.push_back({file, 0, 0, "overlay.replicas",
                   std::to_string(s.replicas) + " exceeds overlay.successors (" +
                       std::to_string(s.successors) + "): each copy lives on a distinct successor"});
  if (!s.node_id.empty() && in_range(s, "overlay.id_bits") && !node_id_fits(s.node_id, s.id_bits))
    out.push_back({file, 0, 0, "overlay.node_id",
                   "'" + s.node_id + "' is not a " + (s.id_bits <= 64 ? "decimal" : "hex") +
                       " id below 2^" + std::to_string(s.id_bits) + " (overlay.id_bits is " +
                       std::to_string(s.id_bits) + ")"});
}

void check_transactions(const Settings& s, const std::string& file, std::vector<ConfigError>& out) {
  // An overlay request acknowledged by its next hop waits 8 request
  // timeouts for the chain behind it (overlay_transport.cpp); nta must not
  // end the transaction first.
  if (!in_range(s, "sip.transaction_lifetime_ms") || !in_range(s, "overlay.request_timeout_ms")) return;
  const long need = 8L * s.request_timeout_ms + 2000;
  if (s.transaction_lifetime_ms < need)
    out.push_back({file, 0, 0, "sip.transaction_lifetime_ms",
                   std::to_string(s.transaction_lifetime_ms) + " is below 8 x overlay.request_timeout_ms + 2000 = " +
                       std::to_string(need) + ": overlay requests would be cut short"});
}

bool is_ipv4_network(const std::string& s) {
  const auto slash = s.find('/');
  if (!is_ipv4(s.substr(0, slash))) return false;
  if (slash == std::string::npos) return true;
  const std::string p = s.substr(slash + 1);
  return !p.empty() && p.size() <= 2 && std::all_of(p.begin(), p.end(), ::isdigit) && std::stoi(p) <= 32;
}

void check_p2p_domains(const Settings& s, const std::string& file, std::vector<ConfigError>& out) {
  if (s.auth_algorithms.empty())
    out.push_back({file, 0, 0, "auth.algorithms", "lists no algorithm (MD5, SHA-256)"});
  for (std::size_t i = 0; i < s.auth_algorithms.size(); ++i) {
    const std::string& a = s.auth_algorithms[i];
    if (a != "MD5" && a != "SHA-256")
      out.push_back({file, 0, 0, "auth.algorithms[" + std::to_string(i) + "]", "'" + a + "' is neither MD5 nor SHA-256"});
    else if (std::find(s.auth_algorithms.begin(), s.auth_algorithms.begin() + static_cast<long>(i), a) !=
             s.auth_algorithms.begin() + static_cast<long>(i))
      out.push_back({file, 0, 0, "auth.algorithms[" + std::to_string(i) + "]", "'" + a + "' is listed twice"});
  }
  for (std::size_t i = 0; i < s.allowed_networks.size(); ++i)
    if (!is_ipv4_network(s.allowed_networks[i]))
      out.push_back({file, 0, 0, "proxy.allowed_networks[" + std::to_string(i) + "]",
                     "'" + s.allowed_networks[i] + "' is not an IPv4 network (e.g. 192.0.2.0/24 or 192.0.2.7)"});
  for (std::size_t i = 0; i < s.p2p_domains.size(); ++i)
    if (!is_dns_name(s.p2p_domains[i]))
      out.push_back({file, 0, 0, "proxy.p2p_domains[" + std::to_string(i) + "]",
                     "'" + s.p2p_domains[i] + "' is not a DNS domain name (e.g. example.com)"});
}

void check_registrar(const Settings& s, const std::string& file, std::vector<ConfigError>& out) {
  if (!in_range(s, "registrar.min_expires") || !in_range(s, "registrar.max_expires")) return;
  if (s.min_expires > s.max_expires) {
    out.push_back({file, 0, 0, "registrar.min_expires",
                   std::to_string(s.min_expires) + " exceeds registrar.max_expires (" +
                       std::to_string(s.max_expires) + ")"});
    return;  // the default cannot lie within an empty interval: one error is enough
  }
  if (in_range(s, "registrar.default_expires") &&
      (s.default_expires < s.min_expires || s.default_expires > s.max_expires))
    out.push_back({file, 0, 0, "registrar.default_expires",
                   std::to_string(s.default_expires) +
                       " is outside registrar.min_expires..registrar.max_expires (" +
                       std::to_string(s.min_expires) + ".." + std::to_string(s.max_expires) + ")"});
}

// --- help and reference --------------------------------------------------

// Greedy word wrap; each line starts with `indent`.
std::string wrap(const std::string& text, const std::string& indent, std::size_t width) {
  std::istringstream words(text);
  std::string word, out, line;
  while (words >> word) {
    if (!line.empty() && indent.size() + line.size() + 1 + word.size() > width) {
      out += indent + line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  if (!line.empty()) out += indent + line + "\n";
  return out;
}

std::string help_entry(const std::string& flag, const std::string& summary, const std::string& text) {
  std::string head = "  " + flag;
  if (!summary.empty()) head += std::string(head.size() < 28 ? 28 - head.size() : 1, ' ') + summary;
  return head + "\n" + wrap(text, "        ", 79);
}

// A table cell: pipes would end the cell, even inside backticks; outside
// backticks "<domain>" would be taken for an HTML tag and the "_" opening
// "_sip._udp" for emphasis.
std::string cell(const std::string& text, bool in_code = false) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    bool word_start = i == 0 || !std::isalnum(static_cast<unsigned char>(text[i - 1]));
    if (c == '|') out += "\\|";
    else if (!in_code && c == '<') out += "&lt;";
    else if (!in_code && c == '>') out += "&gt;";
    else if (!in_code && c == '_' && word_start) out += "\\_";
    else out += c;
  }
  return out;
}

std::string code(const std::string& text) { return text.empty() ? "" : "`" + cell(text, true) + "`"; }

const char* kReferenceIntro = R"(# sippeer configuration reference

<!-- Generated from the schema in adaptor/config/settings.cpp by `sippeer --config-reference > docs/CONFIG.md`. Do not edit by hand: tests/unit/config_test.cpp checks that this file matches. -->

sippeer runs with no configuration at all: every setting has a built-in
default, listed below. `etc/sippeer.yaml` sets every key to its default
and explains each one; copy it and change what you need.

## File format

The configuration file is YAML, given with `--config FILE`. Dotted keys
are written as nested mappings, one per section:

```yaml
sip:
  port: 5060
discovery:
  bootstrap: ["192.0.2.10:5060", "sip.example.net:5060"]
state_dir: /var/lib/sippeer
```

A key may also be written flat (`sip.port: 5060`). Keys left out keep their
defaults. Unknown keys, duplicate keys, wrong types and out-of-range values
are errors, never silently ignored.

## Precedence

Built-in defaults < configuration file < command line. A flag overrides the
file whatever its position on the command line; `--bootstrap` (which may be
repeated) replaces the file's list with the values given.

## Checking a configuration

`sippeer --check-config FILE` (or `sippeer --config FILE --check-config`,
with any other flags) loads and validates the configuration without starting
the daemon, and prints each error with the file, line, column and key:

```
sippeer.yaml:3:3: sip.prot: unknown key; did you mean 'sip.port'?
```

It exits 0 when the configuration is valid and 78 (`EX_CONFIG`) when not.
The daemon refuses to start on the same errors, with the same exit status.

## Settings

`live` marks the settings that `systemctl reload` (SIGHUP) applies to the
running node; the others need a restart.

| key | type | range | default | flag | live | description |
| --- | --- | --- | --- | --- | --- | --- |
)";

}  // namespace

const std::vector<SettingInfo>& settings_schema() { return kSchema; }

const std::vector<OptionInfo>& command_line_only_options() { return kCommandLineOnly; }

const SettingInfo* find_setting(std::string_view key) {
  for (const auto& row : kSchema)
    if (key == row.key) return &row;
  return nullptr;
}

std::string ConfigError::format() const {
  std::string out = file;
  if (line > 0) {
    out += ":" + std::to_string(line);
    if (column > 0) out += ":" + std::to_string(column);
  }
  if (!key.empty()) out += (out.empty() ? "" : ": ") + key;
  return out + (out.empty() ? "" : ": ") + message;
}

const char* log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::Error: return "error";
    case LogLevel::Warn: return "warn";
    case LogLevel::Info: return "info";
    case LogLevel::Debug: return "debug";
  }
  return "info";
}

const char* lookup_mode_name(LookupMode mode) {
  switch (mode) {
    case LookupMode::Parallel: return "parallel";
    case LookupMode::DnsFirst: return "dns-first";
    case LookupMode::P2pFirst: return "p2p-first";
    case LookupMode::P2pOnly: return "p2p-only";
  }
  return "?";
}

std::optional<LookupMode> parse_lookup_mode(std::string_view text) {
  for (auto mode : {LookupMode::Parallel, LookupMode::DnsFirst, LookupMode::P2pFirst, LookupMode::P2pOnly})
    if (text == lookup_mode_name(mode)) return mode;
  return std::nullopt;
}

LiveReload copy_live_settings(const Settings& fresh, Settings& current) {
  LiveReload out;
  for (const SettingInfo& row : kSchema) {
    if (setting_value_text(row, fresh) == setting_value_text(row, current)) continue;
    if (!row.live) {
      out.need_restart.emplace_back(row.key);
      continue;
    }
    std::visit([&](auto member) { current.*member = fresh.*member; }, row.field);
    out.applied.emplace_back(row.key);
  }
  return out;
}

std::optional<LogLevel> parse_log_level(std::string_view text) {
  for (auto level : {LogLevel::Error, LogLevel::Warn, LogLevel::Info, LogLevel::Debug})
    if (text == log_level_name(level)) return level;
  return std::nullopt;
}

std::string set_setting_text(const SettingInfo& row, Settings& s, const std::string& text) {
  return std::visit(
      Overloaded{
          [&](int Settings::*m) { return set_int(row, s.*m, text); },
          [&](bool Settings::*m) -> std::string {
            auto b = parse_bool(text);
            if (!b) return "expected bool (true or false), got '" + text + "'";
            s.*m = *b;
            return "";
          },
          [&](std::string Settings::*m) -> std::string {
            s.*m = text;
            return "";
          },
          [&](std::vector<std::string> Settings::*m) -> std::string {
            (s.*m).push_back(text);
            return "";
          },
          [&](LogLevel Settings::*m) { return set_enum(row, s.*m, text, parse_log_level); },
          [&](LookupMode Settings::*m) { return set_enum(row, s.*m, text, parse_lookup_mode); },
      },
      row.field);
}

std::string setting_value_text(const SettingInfo& row, const Settings& s) {
  return std::visit(
      Overloaded{
          [&](int Settings::*m) { return std::to_string(s.*m); },
          [&](bool Settings::*m) { return std::string(s.*m ? "true" : "false"); },
          [&](std::string Settings::*m) { return yaml_string(s.*m); },
          [&](std::vector<std::string> Settings::*m) {
            std::string out;
            for (const auto& v : s.*m) out += (out.empty() ? "" : ", ") + yaml_string(v);
            return "[" + out + "]";
          },
          [&](LogLevel Settings::*m) { return std::string(log_level_name(s.*m)); },
          [&](LookupMode Settings::*m) { return std::string(lookup_mode_name(s.*m)); },
      },
      row.field);
}

std::string closest_match(std::string_view word, const std::vector<std::string>& candidates) {
  // Optimal string alignment distance over normalized spellings, so that
  // "Sip.Prot" and "min-expires" are one edit (or none) from the real key.
  auto norm = [](std::string_view s) {
    std::string out = lower(s);
    std::replace(out.begin(), out.end(), '-', '_');
    return out;
  };
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<std::vector<int>> d(a.size() + 1, std::vector<int>(b.size() + 1));
    for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = static_cast<int>(i);
    for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = static_cast<int>(j);
    for (std::size_t i = 1; i <= a.size(); ++i)
      for (std::size_t j = 1; j <= b.size(); ++j) {
        int cost = a[i - 1] == b[j - 1] ? 0 : 1;
        d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
          d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    return d[a.size()][b.size()];
  };
  std::string w = norm(word), best;
  // Allow about one typo per three characters, at least one and at most three.
  int best_d = std::clamp(static_cast<int>(w.size()) / 3, 1, 3) + 1;
  for (const auto& c : candidates) {
    std::string n = norm(c);
    int d = distance(w, n);
    // One word cut short or run on ("warning" for "warn") is one slip, not many.
    std::size_t shorter = std::min(w.size(), n.size()), longer = std::max(w.size(), n.size());
    bool prefix = shorter >= 3 && longer - shorter <= 3 && (w.rfind(n, 0) == 0 || n.rfind(w, 0) == 0);
    if (prefix) d = std::min(d, 1);
    if (d < best_d) best_d = d, best = c;
  }
  return best;
}

std::string resolved_state_dir(const Settings& s) {
  if (!s.state_dir.empty()) return s.state_dir;
  if (::access("/var/lib/sippeer", W_OK) == 0) return "/var/lib/sippeer";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/tmp") + "/.local/state/sippeer";
}

std::vector<ConfigError> validate(const Settings& s, const std::string& file) {
  std::vector<ConfigError> out;
  check_ranges(s, file, out);
  check_addresses(s, file, out);
  check_overlay(s, file, out);
  check_transactions(s, file, out);
  check_registrar(s, file, out);
  check_p2p_domains(s, file, out);
  return out;
}

std::string help_text(const char* argv0) {
  std::string name = argv0 && *argv0 ? argv0 : "sippeer";
  std::string out = "Usage: " + name + " [OPTIONS] [--] [COMMAND [ARGS...]]\n\n"
                    "Serverless SIP daemon: nodes form a Chord ring over SIP REGISTER.\n"
                    "Settings come from built-in defaults, then the --config file, then flags.\n\n"
                    "Options:\n";
  for (const auto& opt : kCommandLineOnly) out += help_entry(opt.flag, "", opt.description);
  out += "\nSettings (config key = default):\n";
  for (const auto& row : kSchema) {
    if (!*row.flag) continue;
    out += help_entry(row.flag, std::string(row.key) + " = " + row.default_text, row.description);
  }
  out += "\nOther settings have no flag: set them in the --config file.\n"
         "Every key with its range and default: " + name + " --config-reference\n";
  return out;
}

std::string config_reference_markdown() {
  std::string out = kReferenceIntro;
  for (const auto& row : kSchema)
    out += "| " + code(row.key) + " | " + code(row.type) + " | " + cell(row.range) + " | " +
           code(row.default_text) + " | " + code(row.flag) + " | " + (row.live ? "live" : "") + " | " +
           cell(row.description) + " |\n";
  out += "\n## Command-line only\n\n| flag | description |\n| --- | --- |\n";
  for (const auto& opt : kCommandLineOnly)
    out += "| " + code(opt.flag) + " | " + cell(opt.description) + " |\n";
  return out;
}

}  // namespace sippeer::adaptor
