// The daemon's settings and the one schema table that drives everything
// about them: YAML parsing (config_file.cpp), command-line flags
// (command_line.cpp), validation, --help and docs/CONFIG.md (settings.cpp).
//
// Adding a setting means adding a field below and a row to the table in
// settings.cpp; parsing, checking, help and reference docs follow from the
// row, and tests/unit/config_test.cpp fails until etc/sippeer.yaml and
// docs/CONFIG.md are brought up to date.
//
// Precedence: built-in defaults < config file < command line.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sippeer::adaptor {

enum class LogLevel { Error, Warn, Info, Debug };
// proxy.lookup: how a phone's call finds its target (report 3.5.2).
enum class LookupMode { Parallel, DnsFirst, P2pFirst, P2pOnly };

struct Settings {
  // sip
  int port = 5060;                 // sip.port         -p/--port       0..65535 (0 = pick a free port)
  std::string listen;              // sip.listen       --listen        IPv4 address; empty = host's first non-loopback IPv4
  bool tcp = true;                 // sip.tcp                          also listen on TCP
  bool batch_reads = true;         // sip.batch_reads                  UdpReader instead of tport's reads
  int transaction_lifetime_ms = 18000; // sip.transaction_lifetime_ms 4000..64000 (RFC 3261 64*T1 = 32000)
  // discovery
  bool discovery = true;           // discovery.enabled  -N/--no-discovery sets false (start a ring of our own)
  bool multicast = true;           // discovery.multicast  --no-multicast sets false
  int multicast_timeout_ms = 3000; // discovery.multicast_timeout_ms  100..120000
  std::vector<std::string> bootstrap; // discovery.bootstrap  --bootstrap HOST:PORT (repeatable; HOST may be a name)
  int rediscover_s = 300;          // discovery.rediscover_s  10..86400  a singleton retries discovery this often
  std::string overlay_domain = "sippeer.net"; // overlay.domain  logical domain of ring keys; SRV _sip._udp.<domain> names bootstrap peers
  // overlay
  int id_bits = 160;               // overlay.id_bits  --id-bits  3..160
  std::string node_id;             // overlay.node_id  --node-id  tests only: decimal when id_bits<=64, else hex; empty = SHA-1 of ip:port
  int stabilize_ms = 5000;         // overlay.stabilize_ms --stabilize-ms 10..600000
  int successors = 16;             // overlay.successors 1..64
  int replicas = 3;                // overlay.replicas 0..16 (must be <= successors)
  int replica_batch_ms = 20;       // overlay.replica_batch_ms 0..1000  replicas wait this long to travel together
  int request_timeout_ms = 2000;   // overlay.request_timeout_ms 100..32000  an overlay request unanswered this long marks the peer dead
  std::string overlay_secret;      // overlay.secret  pre-shared key of the ring ("" = no admission); see adaptor/node/overlay_auth.h
  std::string overlay_secret_file; // overlay.secret_file  a file holding the key instead (first line)
  std::string overlay_previous_secret; // overlay.previous_secret  also accepted, during a key change
  int overlay_auth_window_s = 30;  // overlay.auth_window_s 5..3600  clock difference a signed request may show
  std::string overlay_transport = "udp"; // overlay.transport  udp|tls  how nodes talk to each other
  std::vector<std::string> next_level; // overlay.next_level  host:port of nodes of the next-level ring (report 6.4)
  bool domain_fallback = false;    // overlay.domain_fallback  this ring is a next level: look users up by domain too
  // tls
  int tls_port = 0;                // tls.port 0..65535  0 = sip.port + 1 (5061 with the default port)
  std::string tls_certificate;     // tls.certificate  PEM certificate (chain) of this node; "" = no TLS
  std::string tls_private_key;     // tls.private_key  PEM key of that certificate
  std::string tls_ca;              // tls.ca  PEM CA bundle that peers' certificates are checked against
  // admin
  std::string admin = "127.0.0.1:8060"; // admin.listen --admin ADDR:PORT  ("" disables)
  std::string admin_token;         // admin.token  bearer token for POST; "" = generated into state_dir/admin.token
  // state
  std::string state_dir;           // state_dir --state-dir  empty = /var/lib/sippeer when writable, else $HOME/.local/state/sippeer
  // log
  LogLevel log_level = LogLevel::Info; // log.level --log-level error|warn|info|debug
  std::string sip_trace;           // log.sip_trace --sip-trace FILE  every SIP message in and out ("" = off)
  // registrar
  int min_expires = 60;            // registrar.min_expires 1..86400   below it: 423 Interval Too Brief
  int max_expires = 7200;          // registrar.max_expires            must be >= min and >= default
  int default_expires = 3600;      // registrar.default_expires
  int max_contacts = 10;           // registrar.max_contacts 1..1000  bindings per AOR; more: 403
  std::vector<std::string> single_contact_user_agents = {"CSCO"}; // registrar.single_contact_user_agents  User-Agent prefixes listed only their own contacts in the 200
  // auth (issue 13; adaptor/registrar/authenticator.h)
  std::string auth_mode = "off";   // auth.mode  off|provisioned|email  who must prove who they are
  std::vector<std::string> auth_algorithms = {"MD5"}; // auth.algorithms  challenges offered, in this order
  std::string auth_realm;          // auth.realm  "" = each AOR's own domain (report 5.2)
  std::vector<std::string> auth_domains; // auth.domains  domains whose users must exist; [] = proxy.p2p_domains
  int auth_nonce_lifetime_s = 300; // auth.nonce_lifetime_s 10..86400  older nonces are stale
  int auth_max_failures = 10;      // auth.max_failures 1..10000  failures per source or AOR in the window
  int auth_failure_window_s = 60;  // auth.failure_window_s 1..86400
  int auth_credential_ttl_days = 30; // auth.credential_ttl_days 1..3650  unused credentials expire
  int auth_cache_entries = 10000;  // auth.cache_entries 0..1000000  credentials the edge keeps
  int auth_cache_ttl_s = 30;       // auth.cache_ttl_s 0..3600
  std::string auth_smtp;           // auth.smtp  host:port of the relay for e-mail sign-up
  std::string auth_mail_from = "sippeer@localhost"; // auth.mail_from
  int auth_signups_per_source = 5; // auth.signups_per_hour 1..10000  e-mail sign-ups one IP may start per hour
  // proxy
  bool record_route = false;       // proxy.record_route
  std::vector<std::string> accept_proxy_require = {"ms-benotify"}; // proxy.accept_proxy_require  option tags in Proxy-Require forwarded instead of 420
  LookupMode lookup = LookupMode::Parallel; // proxy.lookup  --lookup  parallel|dns-first|p2p-first|p2p-only (report 3.5.2)
  std::vector<std::string> p2p_domains; // proxy.p2p_domains  domains never looked up in DNS
  std::vector<std::string> allowed_networks; // proxy.allowed_networks  CIDRs whose phones may call out; [] = loopback + our subnets
  // offline (issue 17; adaptor/registrar/mailbox.h): MESSAGEs kept for users with no binding
  bool offline_enabled = true;     // offline.enabled  false: such a MESSAGE gets 404 as before
  int offline_max_age_days = 7;    // offline.max_age_days 1..365  older kept messages are dropped
  int offline_max_per_user = 20;   // offline.max_per_user 1..200  then 480 (mailbox full)
  int offline_max_per_sender = 5;  // offline.max_per_sender 1..200  one sender's share of a mailbox
  int offline_max_body_bytes = 2048; // offline.max_body_bytes 0..16384  larger bodies are not kept (480)
  // presence (issue 17; adaptor/proxy/presence_flow.cpp): SUBSCRIBEs parked for users with no binding
  bool presence_enabled = true;    // presence.enabled  false: such a SUBSCRIBE gets 404 as before
  int presence_max_parked_per_user = 50; // presence.max_parked_per_user 1..1000  then 480
  int presence_max_expires_s = 3600; // presence.max_expires_s 60..86400  longest subscription granted
  bool presence_options_probe = true; // presence.options_probe  ask a phone with OPTIONS before its first SUBSCRIBE
  // pstn (issue 17; adaptor/proxy/pstn_flow.cpp): calls to telephone numbers
  bool pstn_redirect = true;       // pstn.redirect  true: 302 with the gateways; false: proxy to the cheapest
  // dns
  int dns_timeout_ms = 3000;       // dns.timeout_ms 100..32000  bounds the DNS branch of a fork
  int dns_negative_ttl_s = 30;     // dns.negative_ttl_s 0..300  a domain DNS found no server of is ring-only so long
  std::string resolv_conf;         // dns.resolv_conf --resolv-conf FILE  empty = /etc/resolv.conf
  // overload (admission control)
  int overload_backlog_kb = 4096;  // overload.max_backlog_kb 0..65536  0 = off; UDP receive queue above it: shed
  int overload_transactions = 50000; // overload.max_transactions 0..10000000  0 = off; live proxy transactions
  int overload_retry_after_s = 2;  // overload.retry_after_s 1..3600  Retry-After of the 503
  // limits (what one source may cost us)
  int per_source_rate = 500;       // limits.per_source_rate 0..1000000  requests/s from one IP; 0 = off
  int per_source_transactions = 200; // limits.per_source_transactions 0..1000000  open proxy transactions per IP; 0 = off
  int max_message_bytes = 65536;   // limits.max_message_bytes 1024..1048576  larger SIP messages: 413
  int max_records = 1000000;       // limits.max_records 100..100000000  records a node keeps as owner; new AORs beyond: 503

  // Lets tests say "this file yields the defaults" in one comparison.
  friend bool operator==(const Settings&, const Settings&) = default;
};

// Which Settings member a schema row reads and writes; the alternative in
// use always matches the row's `type` text.
using SettingField = std::variant<int Settings::*, bool Settings::*, std::string Settings::*,
                                  std::vector<std::string> Settings::*, LogLevel Settings::*,
                                  LookupMode Settings::*>;

struct SettingInfo {        // one row of the schema table
  const char* key;          // "sip.port"
  const char* type;         // "int", "bool", "string", "list<string>", "enum"
  const char* range;        // "0..65535", "error|warn|info|debug", ""
  const char* default_text; // as written in YAML
  const char* flag;         // "-p, --port PORT" or "" if no flag
  const char* description;  // one or two sentences: what and why
  SettingField field;       // the member this row sets
  int min = 0;              // int rows: inclusive bounds, the numbers of `range`
  int max = 0;
  // Takes effect on SIGHUP (`systemctl reload`): the parts that read it do
  // so per request or per event. Every other row shapes a socket or the
  // ring (ports, ids, intervals) and needs a restart.
  bool live = false;
};
const std::vector<SettingInfo>& settings_schema();
// The row for a dotted key, or nullptr.
const SettingInfo* find_setting(std::string_view key);

// Options that exist only on the command line (--config, --help, ...), so
// that help_text and the reference list them next to the schema's flags.
struct OptionInfo {
  const char* flag;         // "-c, --config FILE"
  const char* description;
};
const std::vector<OptionInfo>& command_line_only_options();

struct ConfigError {
  std::string file;
  int line = 0;    // 1-based; 0 = unknown
  int column = 0;  // 1-based; 0 = unknown
  std::string key;
  std::string message;
  std::string format() const;  // "file:line:col: key: message" (omits :line:col when unknown, key: when empty)
};

// Sets a row's field from the text of one value (a YAML scalar or a flag's
// argument); list rows append it. Returns "" on success, otherwise what is
// wrong, e.g. "expected int in 0..65535, got 'abc'". The field is unchanged
// on failure.
std::string set_setting_text(const SettingInfo& row, Settings& s, const std::string& text);
// The row's value in `s` written as YAML; for a default Settings this is the
// row's default_text.
std::string setting_value_text(const SettingInfo& row, const Settings& s);

const char* log_level_name(LogLevel level);
std::optional<LogLevel> parse_log_level(std::string_view text);
const char* lookup_mode_name(LookupMode mode);
std::optional<LookupMode> parse_lookup_mode(std::string_view text);

// state_dir as configured, else /var/lib/sippeer when writable, else
// $HOME/.local/state/sippeer.
std::string resolved_state_dir(const Settings& s);

// SIGHUP: copies the live rows of `fresh` into `current` and leaves the
// rest. Returns the keys whose value changed, live ones in `applied` and
// the others (which keep their running value) in `need_restart`.
struct LiveReload {
  std::vector<std::string> applied;
  std::vector<std::string> need_restart;
};
LiveReload copy_live_settings(const Settings& fresh, Settings& current);

// The candidate closest to `word` (case-insensitive, '-' and '_' alike,
// a swap of two neighbours counts as one edit), or "" when none is close
// enough to be worth a "did you mean" hint.
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);

// Loads a YAML file over `s` (fields not in the file keep their current values).
std::vector<ConfigError> load_config_file(const std::string& path, Settings& s);
std::vector<ConfigError> load_config_text(const std::string& text, const std::string& name, Settings& s);  // for tests

// Per-field ranges and cross-field checks (replicas <= successors,
// min <= default <= max, node_id parses for id_bits, listen is an IPv4
// literal, bootstrap entries are HOST:PORT, ...). `file` names where the
// settings came from in the errors (they carry no line: the values may
// come from the command line too).
std::vector<ConfigError> validate(const Settings& s, const std::string& file);

struct CommandLine {
  std::string config_path;   // --config FILE (default: none -> built-in defaults)
  bool help = false, version = false, check_config = false, config_reference = false;
  std::vector<std::string> rest;  // positional args (e.g. "ctl ...") left for the caller
};
// Two passes, so that flags override the file whatever their order:
// parse_command_line finds --config, --help etc. and checks the shape of
// every argument (unknown flag with a did-you-mean, missing value);
// apply_command_line then applies the setting flags over Settings after the
// file is loaded (bad number, out of range). Errors have file "command
// line". The first positional argument and everything after it (or after
// "--") go to `rest` unparsed. `--check-config` takes an optional FILE.
std::vector<ConfigError> parse_command_line(int argc, char** argv, CommandLine& cl);
std::vector<ConfigError> apply_command_line(int argc, char** argv, Settings& s);

std::string help_text(const char* argv0);     // usage line + every flag with its default, generated from the schema
std::string config_reference_markdown();      // docs/CONFIG.md content, generated from the schema

}  // namespace sippeer::adaptor
