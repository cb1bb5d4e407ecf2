// The configuration schema and everything generated from it: defaults,
// the sample etc/sippeer.yaml, docs/CONFIG.md, file and command-line
// parsing with their error messages, validation and --help.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "adaptor/config/settings.h"

namespace sippeer::adaptor {
namespace {

std::string source_path(const std::string& relative) {
#ifdef SIPPEER_SOURCE_DIR
  return std::string(SIPPEER_SOURCE_DIR) + "/" + relative;
#else
  return "../../" + relative;  // from build/tests, where ctest runs unit_tests
#endif
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every field away from its default, so that loading a file over it shows
// which keys the file really sets.
Settings scrambled() {
  Settings s;
  s.port = 1;
  s.listen = "192.0.2.1";
  s.tcp = false;
  s.batch_reads = false;
  s.transaction_lifetime_ms = 20000;
  s.discovery = false;
  s.multicast = false;
  s.multicast_timeout_ms = 101;
  s.bootstrap = {"192.0.2.2:5060"};
  s.rediscover_s = 11;
  s.overlay_domain = "example.org";
  s.id_bits = 5;
  s.node_id = "7";
  s.stabilize_ms = 11;
  s.successors = 2;
  s.replicas = 1;
  s.replica_batch_ms = 7;
  s.request_timeout_ms = 101;
  s.admin = "";
  s.state_dir = "/tmp/x";
  s.log_level = LogLevel::Debug;
  s.sip_trace = "/tmp/trace";
  s.min_expires = 2;
  s.max_expires = 3;
  s.default_expires = 2;
  s.single_contact_user_agents = {"Acme", "Foo/1"};
  s.record_route = true;
  s.accept_proxy_require = {};
  s.lookup = LookupMode::DnsFirst;
  s.p2p_domains = {"example.net"};
  s.dns_timeout_ms = 101;
  s.dns_negative_ttl_s = 7;
  s.offline_enabled = false;
  s.offline_max_age_days = 2;
  s.offline_max_per_user = 3;
  s.offline_max_per_sender = 2;
  s.offline_max_body_bytes = 100;
  s.presence_enabled = false;
  s.presence_max_parked_per_user = 7;
  s.presence_max_expires_s = 600;
  s.presence_options_probe = false;
  s.pstn_redirect = false;
  s.next_level = {"192.0.2.9:5060"};
  s.domain_fallback = true;
  s.resolv_conf = "/tmp/resolv.conf";
  s.overload_backlog_kb = 77;
  s.overload_transactions = 12;
  s.overload_retry_after_s = 9;
  s.overlay_secret = "k1";
  s.overlay_secret_file = "/tmp/k";
  s.overlay_previous_secret = "k0";
  s.overlay_auth_window_s = 61;
  s.admin_token = "t0k";
  s.max_contacts = 3;
  s.allowed_networks = {"10.0.0.0/8"};
  s.per_source_rate = 7;
  s.per_source_transactions = 8;
  s.max_message_bytes = 4096;
  s.max_records = 1000;
  s.auth_mode = "provisioned";
  s.auth_realm = "example.org";
  s.auth_algorithms = {"SHA-256", "MD5"};
  s.auth_domains = {"example.org"};
  s.auth_nonce_lifetime_s = 60;
  s.auth_max_failures = 3;
  s.auth_failure_window_s = 30;
  s.auth_credential_ttl_days = 7;
  s.auth_cache_entries = 5;
  s.auth_cache_ttl_s = 1;
  s.auth_smtp = "127.0.0.1:2525";
  s.auth_mail_from = "ring@example.org";
  s.auth_signups_per_source = 2;
  s.overlay_transport = "tls";
  s.tls_port = 5062;
  s.tls_certificate = "/tmp/c.pem";
  s.tls_private_key = "/tmp/k.pem";
  s.tls_ca = "/tmp/ca.pem";
  return s;
}

std::string formatted(const std::vector<ConfigError>& errors) {
  std::string out;
  for (const auto& e : errors) out += e.format() + "\n";
  return out;
}

std::vector<ConfigError> load(const std::string& text, Settings& s) {
  return load_config_text(text, "test.yaml", s);
}

// argv as main() gets it; the strings live as long as the Args.
struct Args {
  explicit Args(std::vector<std::string> a) : words(std::move(a)) {
    words.insert(words.begin(), "sippeer");
    for (auto& w : words) ptrs.push_back(w.data());
    ptrs.push_back(nullptr);
  }
  int argc() const { return static_cast<int>(words.size()); }
  char** argv() { return ptrs.data(); }
  std::vector<std::string> words;
  std::vector<char*> ptrs;
};

std::vector<ConfigError> parse(std::vector<std::string> words, CommandLine& cl) {
  Args a(std::move(words));
  return parse_command_line(a.argc(), a.argv(), cl);
}

std::vector<ConfigError> apply(std::vector<std::string> words, Settings& s) {
  Args a(std::move(words));
  return apply_command_line(a.argc(), a.argv(), s);
}

// --- the schema itself ------------------------------------------------------

TEST(ConfigSchema, DefaultsEqualTheDefaultTextOfEveryRow) {
  Settings defaults;
  for (const auto& row : settings_schema())
    EXPECT_EQ(setting_value_text(row, defaults), row.default_text) << row.key;
}

TEST(ConfigSchema, DefaultTextReadBackAsYamlGivesTheDefault) {
  Settings defaults;
  for (const auto& row : settings_schema()) {
    Settings s = scrambled();
    auto errors = load(std::string(row.key) + ": " + row.default_text + "\n", s);
    EXPECT_TRUE(errors.empty()) << row.key << "\n" << formatted(errors);
    EXPECT_EQ(setting_value_text(row, s), setting_value_text(row, defaults)) << row.key;
  }
}

TEST(ConfigSchema, ScrambledSettingsDifferInEveryRow) {
  // Guards the tests that rely on scrambled() to see every key set.
  Settings defaults, s = scrambled();
  for (const auto& row : settings_schema())
    EXPECT_NE(setting_value_text(row, s), setting_value_text(row, defaults)) << row.key;
}

TEST(ConfigSchema, RowsAreWellFormed) {
  std::set<std::string> keys;
  for (const auto& row : settings_schema()) {
    EXPECT_TRUE(keys.insert(row.key).second) << "duplicate key " << row.key;
    EXPECT_NE(std::string(row.description), "") << row.key;
    // The type text follows the member the row writes (SettingField's order).
    static const char* const kTypeOfField[] = {"int", "bool", "string", "list<string>", "enum", "enum"};
    EXPECT_STREQ(row.type, kTypeOfField[row.field.index()]) << row.key;
    if (std::string(row.type) == "int") {
      EXPECT_EQ(row.range, std::to_string(row.min) + ".." + std::to_string(row.max)) << row.key;
    }
    EXPECT_EQ(find_setting(row.key), &row);
  }
  EXPECT_EQ(find_setting("sip.nope"), nullptr);
}

TEST(ConfigSchema, DefaultsAreValid) {
  EXPECT_EQ(formatted(validate(Settings{}, "defaults")), "");
}

TEST(ConfigSchema, LookupModeIsAnEnumRowAndP2pDomainsAreChecked) {
  Settings s;
  const SettingInfo* row = find_setting("proxy.lookup");
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(set_setting_text(*row, s, "parralel"),
            "expected one of parallel|dns-first|p2p-first|p2p-only, got 'parralel'; did you mean 'parallel'?");
  EXPECT_EQ(s.lookup, LookupMode::Parallel);
  for (auto [text, mode] : {std::pair{"parallel", LookupMode::Parallel}, {"dns-first", LookupMode::DnsFirst},
                            {"P2P-First", LookupMode::P2pFirst}, {"p2p-only", LookupMode::P2pOnly}}) {
    Settings ok;
    EXPECT_EQ(set_setting_text(*row, ok, text), "") << text;
    EXPECT_EQ(ok.lookup, mode) << text;
    EXPECT_EQ(formatted(validate(ok, "f")), "") << text;
  }
  s.p2p_domains = {"ring.example", "not a domain"};
  EXPECT_EQ(formatted(validate(s, "f")),
            "f: proxy.p2p_domains[1]: 'not a domain' is not a DNS domain name (e.g. example.com)\n");
}

TEST(ConfigSchema, ReloadCopiesLiveRowsOnly) {
  Settings current, fresh;
  fresh.min_expires = 30;                   // live
  fresh.lookup = LookupMode::P2pOnly;       // live
  fresh.log_level = LogLevel::Debug;        // live
  fresh.port = 5070;                        // needs a restart
  fresh.stabilize_ms = 1000;                // needs a restart
  const LiveReload r = copy_live_settings(fresh, current);
  EXPECT_EQ(r.applied, (std::vector<std::string>{"log.level", "registrar.min_expires", "proxy.lookup"}));
  EXPECT_EQ(r.need_restart, (std::vector<std::string>{"sip.port", "overlay.stabilize_ms"}));
  EXPECT_EQ(current.min_expires, 30);
  EXPECT_EQ(current.lookup, LookupMode::P2pOnly);
  EXPECT_EQ(current.log_level, LogLevel::Debug);
  EXPECT_EQ(current.port, Settings{}.port);
  EXPECT_EQ(current.stabilize_ms, Settings{}.stabilize_ms);
  // Nothing changed: nothing to report.
  const LiveReload again = copy_live_settings(fresh, current);
  EXPECT_EQ(again.applied.size(), 0u);
  EXPECT_EQ(again.need_restart.size(), 2u);  // still different from the running value
}

TEST(ConfigSchema, SocketAndRingShapingRowsAreNotLive) {
  for (const char* key : {"sip.port", "sip.listen", "overlay.id_bits", "overlay.node_id", "overlay.stabilize_ms",
                          "admin.listen", "state_dir"})
    EXPECT_FALSE(find_setting(key)->live) << key;
}

// --- the files generated from or checked against the schema -----------------

TEST(ConfigSampleFile, LoadsWithoutErrorsAndYieldsTheDefaults) {
  std::string path = source_path("etc/sippeer.yaml");
  Settings s;
  auto errors = load_config_file(path, s);
  EXPECT_EQ(formatted(errors), "");
  EXPECT_TRUE(s == Settings{});
  EXPECT_EQ(formatted(validate(s, path)), "");
}

TEST(ConfigSampleFile, SetsEveryKey) {
  // Loaded over settings that differ everywhere, only a file naming every
  // key can give back the defaults.
  Settings s = scrambled();
  auto errors = load_config_file(source_path("etc/sippeer.yaml"), s);
  EXPECT_EQ(formatted(errors), "");
  Settings defaults;
  for (const auto& row : settings_schema())
    EXPECT_EQ(setting_value_text(row, s), setting_value_text(row, defaults))
        << row.key << " is missing from etc/sippeer.yaml or not at its default";
}

TEST(ConfigReference, DocsMatchTheSchema) {
  std::string path = source_path("docs/CONFIG.md");
  EXPECT_TRUE(read_file(path) == config_reference_markdown())
      << path << " is out of date with the schema in adaptor/config/settings.cpp; regenerate it with\n"
      << "  build/sippeer --config-reference > docs/CONFIG.md";
}

TEST(ConfigReference, ListsEveryKeyAndFlag) {
  std::string md = config_reference_markdown();
  for (const auto& row : settings_schema())
    EXPECT_NE(md.find(std::string("| `") + row.key + "` |"), std::string::npos) << row.key;
  for (const auto& opt : command_line_only_options())
    EXPECT_NE(md.find(std::string("| `") + opt.flag + "` |"), std::string::npos) << opt.flag;
  EXPECT_NE(md.find("78 (`EX_CONFIG`)"), std::string::npos);
}

// --- loading files -------------------------------------------------------------

TEST(ConfigFile, OverridesOnlyTheKeysItNames) {
  Settings s;
  auto errors = load("sip:\n  port: 5070\n  tcp: no\ndiscovery:\n  bootstrap: [\"a.example:5060\", 192.0.2.9:5061]\n"
                     "log: {level: debug}\noverlay.replicas: 2\nproxy:\n",
                     s);
  EXPECT_EQ(formatted(errors), "");
  Settings expected;
  expected.port = 5070;
  expected.tcp = false;
  expected.bootstrap = {"a.example:5060", "192.0.2.9:5061"};
  expected.log_level = LogLevel::Debug;
  expected.replicas = 2;
  EXPECT_TRUE(s == expected);
}

TEST(ConfigFile, EmptyTextAndEmptyValuesAreFine) {
  Settings s = scrambled();
  EXPECT_EQ(formatted(load("", s)), "");
  EXPECT_EQ(formatted(load("# only comments\n", s)), "");
  EXPECT_EQ(formatted(load("sip:\n  listen:\ndiscovery:\n  bootstrap:\n", s)), "");
  EXPECT_EQ(s.listen, "");
  EXPECT_TRUE(s.bootstrap.empty());
}

TEST(ConfigFile, UnknownKeyNamesFileLineColumnKeyAndHint) {
  Settings s;
  auto errors = load_config_text("sip:\n  prot: 5060\n", "bad.yaml", s);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].format(), "bad.yaml:2:3: sip.prot: unknown key; did you mean 'sip.port'?");
}

TEST(ConfigFile, UnknownKeyHints) {
  Settings s;
  auto hint = [&](const std::string& text) {
    auto errors = load(text, s);
    return errors.size() == 1 ? errors[0].message : formatted(errors);
  };
  EXPECT_EQ(hint("overlay:\n  port: 1\n"), "unknown key; did you mean 'sip.port'?");  // wrong section
  EXPECT_EQ(hint("port: 1\n"), "unknown key; did you mean 'sip.port'?");             // no section
  EXPECT_EQ(hint("sipp:\n  port: 1\n"), "unknown key; did you mean 'sip'?");
  EXPECT_EQ(hint("registrar:\n  min-expires: 1\n"), "unknown key; did you mean 'registrar.min_expires'?");
  EXPECT_EQ(hint("colour: blue\n"), "unknown key");
}

TEST(ConfigFile, WrongTypeNamesKeyAndExpectedType) {
  Settings s;
  auto errors = load("sip:\n  port: abc\n", s);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].format(), "test.yaml:2:9: sip.port: expected int in 0..65535, got 'abc'");
  EXPECT_EQ(s.port, 5060);

  errors = load("sip:\n  port: [1, 2]\n", s);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].key, "sip.port");
  EXPECT_EQ(errors[0].message, "expected int in 0..65535, got a sequence");

  errors = load("discovery:\n  bootstrap: 192.0.2.1:5060\n", s);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].key, "discovery.bootstrap");
  EXPECT_NE(errors[0].message.find("expected a list of strings"), std::string::npos);

  errors = load("discovery:\n  bootstrap:\n    - 192.0.2.1:5060\n    - {host: x}\n", s);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].format(), "test.yaml:4:7: discovery.bootstrap[1]: expected string, got a mapping");
  EXPECT_TRUE(s.bootstrap.empty());  // a list with a bad element is not taken at all

  errors = load("sip:\n  tcp: maybe\nlog:\n  level: warning\nsip.port:\n", s);
  EXPECT_EQ(formatted(errors),
            "test.yaml:2:8: sip.tcp: expected bool (true or false), got 'maybe'\n"
            "test.yaml:4:10: log.level: expected one of error|warn|info|debug, got 'warning'; did you mean 'warn'?\n"
            "test.yaml:5:1: sip.port: expected int in 0..65535, got nothing\n");

  errors = load("sip: 5060\n", s);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].format(),
            "test.yaml:1:6: sip: expected a mapping of the section's keys (e.g. sip: {port: 5060}), got '5060'");
}

TEST(ConfigFile, OutOfRange) {
  Settings s;
  auto errors = load("overlay:\n  successors: 65\n  id_bits: 2\nsip: {port: 99999999999}\n", s);
  EXPECT_EQ(formatted(errors),
            "test.yaml:2:15: overlay.successors: 65 is out of range 1..64\n"
            "test.yaml:3:12: overlay.id_bits: 2 is out of range 3..160\n"
            "test.yaml:4:13: sip.port: 99999999999 is out of range 0..65535\n");
  EXPECT_TRUE(s == Settings{});
}

TEST(ConfigFile, YamlSyntaxErrorHasItsPosition) {
  Settings s;
  auto errors = load("sip: {port: 5060\n", s);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].file, "test.yaml");
  EXPECT_GT(errors[0].line, 0);
  EXPECT_GT(errors[0].column, 0);
  EXPECT_EQ(errors[0].message.rfind("YAML syntax error: ", 0), 0u) << errors[0].message;

  errors = load("sip:\n  port: 5060\n   tcp: true\n", s);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].line, 3);
}

TEST(ConfigFile, DuplicateKeysAndDocuments) {
  Settings s;
  auto errors = load("sip:\n  port: 1\n  port: 2\n", s);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].format(), "test.yaml:3:3: sip.port: duplicate key (first set at line 2)");

  errors = load("sip: {port: 1}\nsip.port: 2\n", s);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].key, "sip.port");

  errors = load("sip: {port: 1}\n---\nsip: {port: 2}\n", s);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "expected one YAML document, found 2");
  EXPECT_EQ(errors[0].line, 2);

  // Found by tests/fuzz/fuzz_config: yaml-cpp 0.7's LoadAll never returned
  // on these 66 bytes (it allocated until killed). One document is parsed
  // now, and this is an error, at once.
  errors = load(",sip:/  port: 50704\na:/  port: 50704\nauth:sec0\nauth:sec0\nau2et: k\n", s);
  EXPECT_FALSE(errors.empty());

  errors = load("- sip\n", s);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].line, 1);
}

TEST(ConfigFile, ReportsEveryErrorInOneRun) {
  Settings s;
  auto errors = load("sip:\n  prot: 1\n  port: x\noverlay:\n  replicas: 99\nlog: {level: loud}\n", s);
  EXPECT_EQ(errors.size(), 4u) << formatted(errors);
}

TEST(ConfigFile, MissingOrUnreadableFileIsNamed) {
  Settings s;
  auto errors = load_config_file("/nonexistent/sippeer.yaml", s);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].format(), "/nonexistent/sippeer.yaml: cannot read config file: No such file or directory");

  errors = load_config_file("/", s);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].file, "/");
  EXPECT_TRUE(s == Settings{});
}

// --- cross-field validation ---------------------------------------------------

TEST(ConfigValidate, ReplicasAboveSuccessors) {
  Settings s;
  EXPECT_EQ(formatted(load("overlay:\n  replicas: 5\n  successors: 4\n", s)), "");
  EXPECT_EQ(formatted(validate(s, "test.yaml")),
            "test.yaml: overlay.replicas: 5 exceeds overlay.successors (4): each copy lives on a distinct "
            "successor\n");
}

TEST(ConfigValidate, AdminBeyondLoopbackNeedsAToken) {
  Settings s;
  EXPECT_EQ(formatted(load("admin:\n  listen: 192.0.2.10:8060\n", s)), "");
  EXPECT_EQ(formatted(validate(s, "test.yaml")),
            "test.yaml: admin.token: admin.listen 192.0.2.10:8060 is reachable from other hosts: set "
            "admin.token (e.g. openssl rand -hex 32) or listen on 127.0.0.1\n");
  EXPECT_EQ(formatted(load("admin:\n  token: abc\n", s)), "");
  EXPECT_EQ(formatted(validate(s, "test.yaml")), "");
}

TEST(ConfigValidate, OverlaySecretOrItsFileNotBoth) {
  Settings s;
  EXPECT_EQ(formatted(load("overlay:\n  secret: a\n  secret_file: /etc/k\n", s)), "");
  EXPECT_EQ(formatted(validate(s, "test.yaml")),
            "test.yaml: overlay.secret_file: set overlay.secret or overlay.secret_file, not both\n");
  Settings t;
  EXPECT_EQ(formatted(load("overlay:\n  previous_secret: old\n", t)), "");
  EXPECT_EQ(formatted(validate(t, "test.yaml")),
            "test.yaml: overlay.previous_secret: is only meaningful with overlay.secret or overlay.secret_file\n");
}

TEST(ConfigValidate, TransactionLifetimeCoversTheOverlaysLongestWait) {
  Settings s;
  EXPECT_EQ(formatted(load("sip:\n  transaction_lifetime_ms: 8000\n", s)), "");
  EXPECT_EQ(formatted(validate(s, "test.yaml")),
            "test.yaml: sip.transaction_lifetime_ms: 8000 is below 8 x overlay.request_timeout_ms + 2000 = "
            "18000: overlay requests would be cut short\n");
  // A shorter overlay timeout allows a shorter lifetime.
  EXPECT_EQ(formatted(load("overlay:\n  request_timeout_ms: 500\n", s)), "");
  EXPECT_EQ(formatted(validate(s, "test.yaml")), "");
}

TEST(ConfigValidate, ExpiresMinAboveMaxAndDefaultOutside) {
  Settings s;
  EXPECT_EQ(formatted(load("registrar: {min_expires: 100, max_expires: 50, default_expires: 60}\n", s)), "");
  auto errors = validate(s, "test.yaml");
  ASSERT_EQ(errors.size(), 1u) << formatted(errors);
  EXPECT_EQ(errors[0].format(), "test.yaml: registrar.min_expires: 100 exceeds registrar.max_expires (50)");

  s = Settings{};
  s.default_expires = 10;
  errors = validate(s, "test.yaml");
  ASSERT_EQ(errors.size(), 1u) << formatted(errors);
  EXPECT_EQ(errors[0].key, "registrar.default_expires");
}

TEST(ConfigValidate, Addresses) {
  Settings s;
  s.listen = "192.0.2.300";
  s.bootstrap = {"192.0.2.1:5060", "sip.example.net:5060", "bad host!", "192.0.2.1:0", "1.2.3:5060",
                 "ring.example.net"};  // the last: a domain, looked up by SRV
  s.admin = "localhost:8060";  // the admin address is bound, so it must be an address
  s.overlay_domain = "-bad-";
  auto errors = validate(s, "f");
  std::vector<std::string> keys;
  for (const auto& e : errors) keys.push_back(e.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"sip.listen", "discovery.bootstrap[2]", "discovery.bootstrap[3]",
                                            "discovery.bootstrap[4]", "admin.listen", "overlay.domain"}))
      << formatted(errors);

  s = Settings{};
  s.listen = "10.0.0.7";
  s.admin = "";
  EXPECT_EQ(formatted(validate(s, "f")), "");
}

TEST(ConfigValidate, NodeIdMustFitTheRing) {
  Settings s;
  s.id_bits = 5;
  for (std::string ok : {"0", "7", "31"}) {
    s.node_id = ok;
    EXPECT_EQ(formatted(validate(s, "f")), "") << ok;
  }
  for (std::string bad : {"32", "x", "-1", "1f"}) {
    s.node_id = bad;
    EXPECT_EQ(validate(s, "f").size(), 1u) << bad;
  }
  s.id_bits = 160;
  for (std::string ok : {"0", "ffffffffffffffffffffffffffffffffffffffff", "00ABCdef"}) {
    s.node_id = ok;
    EXPECT_EQ(formatted(validate(s, "f")), "") << ok;
  }
  s.id_bits = 72;
  s.node_id = "ff" + std::string(16, '0');  // 2^72 - 2^64: fits
  EXPECT_EQ(formatted(validate(s, "f")), "");
  s.node_id = "1" + std::string(18, '0');  // 2^72: does not
  EXPECT_EQ(validate(s, "f").size(), 1u);
}

TEST(ConfigValidate, ChecksRangesOfSettingsBuiltInCode) {
  Settings s;
  s.port = -1;
  s.successors = 0;
  auto errors = validate(s, "f");
  ASSERT_EQ(errors.size(), 2u) << formatted(errors);
  EXPECT_EQ(errors[0].format(), "f: sip.port: -1 is out of range 0..65535");
}

// --- the command line ----------------------------------------------------------

TEST(ConfigCommandLine, PortZero) {
  CommandLine cl;
  EXPECT_EQ(formatted(parse({"-p", "0"}, cl)), "");
  Settings s;
  EXPECT_EQ(formatted(apply({"-p", "0"}, s)), "");
  EXPECT_EQ(s.port, 0);
  EXPECT_EQ(formatted(apply({"--port=5070"}, s)), "");
  EXPECT_EQ(s.port, 5070);
  EXPECT_EQ(formatted(apply({"-p5080"}, s)), "");
  EXPECT_EQ(s.port, 5080);
}

TEST(ConfigCommandLine, BootstrapTwiceReplacesTheFileList) {
  Settings s;
  s.bootstrap = {"from-file.example:5060"};
  EXPECT_EQ(formatted(apply({"--bootstrap", "192.0.2.1:5060", "--bootstrap", "peer.example:5061"}, s)), "");
  EXPECT_EQ(s.bootstrap, (std::vector<std::string>{"192.0.2.1:5060", "peer.example:5061"}));
}

TEST(ConfigCommandLine, NoDiscoveryAndNoMulticast) {
  Settings s;
  EXPECT_EQ(formatted(apply({"-N"}, s)), "");
  EXPECT_FALSE(s.discovery);
  EXPECT_TRUE(s.multicast);
  EXPECT_EQ(formatted(apply({"--no-multicast"}, s)), "");
  EXPECT_FALSE(s.multicast);
  CommandLine cl;
  auto errors = parse({"--no-discovery=yes"}, cl);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].format(), "command line: --no-discovery: takes no value, got 'yes'");
}

TEST(ConfigCommandLine, UnknownFlagWithHint) {
  CommandLine cl;
  auto errors = parse({"--prot", "5060"}, cl);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].format(), "command line: --prot: unknown option; did you mean '--port'?");

  errors = parse({"--min-expires", "5"}, cl);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "unknown option; registrar.min_expires has no flag: set it in the --config file");

  errors = parse({"-P", "5060"}, cl);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "unknown option; did you mean '-p'?");
}

TEST(ConfigCommandLine, MissingValue) {
  CommandLine cl;
  auto errors = parse({"--port"}, cl);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].format(), "command line: --port: missing value (PORT)");
  // A following flag is not taken for the value.
  errors = parse({"--config", "--port", "1"}, cl);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].format(), "command line: --config: missing value (FILE)");
}

TEST(ConfigCommandLine, BadValues) {
  Settings s;
  auto errors = apply({"-p", "abc", "--stabilize-ms", "5", "--log-level", "DEBUG"}, s);
  EXPECT_EQ(formatted(errors),
            "command line: -p: expected int in 0..65535, got 'abc'\n"
            "command line: --stabilize-ms: 5 is out of range 10..600000\n");
  EXPECT_EQ(s.port, 5060);
  EXPECT_EQ(s.log_level, LogLevel::Debug);
}

TEST(ConfigCommandLine, NodeIdIsCheckedAgainstIdBits) {
  Settings s;
  EXPECT_EQ(formatted(apply({"--id-bits", "5", "--node-id", "7"}, s)), "");
  EXPECT_EQ(s.id_bits, 5);
  EXPECT_EQ(s.node_id, "7");
  EXPECT_EQ(formatted(validate(s, "command line")), "");

  s = Settings{};
  EXPECT_EQ(formatted(apply({"--node-id", "x", "--id-bits", "5"}, s)), "");
  auto errors = validate(s, "command line");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].format(),
            "command line: overlay.node_id: 'x' is not a decimal id below 2^5 (overlay.id_bits is 5)");
}

TEST(ConfigCommandLine, MetaOptionsAndRest) {
  CommandLine cl;
  EXPECT_EQ(formatted(parse({"-p", "1", "--config", "a.yaml", "-h", "-V", "ctl", "ring", "--json"}, cl)), "");
  EXPECT_EQ(cl.config_path, "a.yaml");
  EXPECT_TRUE(cl.help);
  EXPECT_TRUE(cl.version);
  EXPECT_FALSE(cl.check_config);
  EXPECT_EQ(cl.rest, (std::vector<std::string>{"ctl", "ring", "--json"}));

  cl = CommandLine{};
  EXPECT_EQ(formatted(parse({"--config-reference", "--", "-p"}, cl)), "");
  EXPECT_TRUE(cl.config_reference);
  EXPECT_EQ(cl.rest, (std::vector<std::string>{"-p"}));
  Settings s;
  EXPECT_EQ(formatted(apply({"--config-reference", "--", "-p"}, s)), "");
  EXPECT_TRUE(s == Settings{});
}

TEST(ConfigCommandLine, CheckConfigTakesAnOptionalFile) {
  CommandLine cl;
  EXPECT_EQ(formatted(parse({"--check-config", "x.yaml"}, cl)), "");
  EXPECT_TRUE(cl.check_config);
  EXPECT_EQ(cl.config_path, "x.yaml");
  EXPECT_TRUE(cl.rest.empty());

  cl = CommandLine{};
  EXPECT_EQ(formatted(parse({"--config", "x.yaml", "--check-config", "-p", "1"}, cl)), "");
  EXPECT_TRUE(cl.check_config);
  EXPECT_EQ(cl.config_path, "x.yaml");

  cl = CommandLine{};
  EXPECT_EQ(formatted(parse({"--check-config"}, cl)), "");
  EXPECT_TRUE(cl.check_config);
  EXPECT_EQ(cl.config_path, "");

  cl = CommandLine{};
  auto errors = parse({"--config", "a.yaml", "--check-config", "b.yaml"}, cl);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].key, "--check-config");
}

TEST(ConfigCommandLine, FlagsWinOverTheFileWhateverTheirOrder) {
  // main(): parse, load the file, then apply the flags.
  std::vector<std::string> words = {"-p", "9000", "--config", "f.yaml"};
  CommandLine cl;
  EXPECT_EQ(formatted(parse(words, cl)), "");
  Settings s;
  EXPECT_EQ(formatted(load_config_text("sip: {port: 7000, tcp: false}\n", cl.config_path, s)), "");
  EXPECT_EQ(formatted(apply(words, s)), "");
  EXPECT_EQ(s.port, 9000);
  EXPECT_FALSE(s.tcp);
}

// A valid argument for a row's flag: its default, unquoted.
std::string sample_value(const SettingInfo& row) {
  if (std::holds_alternative<std::vector<std::string> Settings::*>(row.field)) return "192.0.2.1:5060";
  std::string v = row.default_text;
  return v == "\"\"" ? "" : v;
}

TEST(ConfigCommandLine, EverySchemaFlagIsAccepted) {
  for (const auto& row : settings_schema()) {
    std::string flag = row.flag;
    if (flag.empty()) continue;
    std::string name = flag.substr(flag.find("--"));
    name = name.substr(0, name.find(' '));
    std::vector<std::string> words = {name};
    if (!std::holds_alternative<bool Settings::*>(row.field)) words.push_back(sample_value(row));
    CommandLine cl;
    EXPECT_EQ(formatted(parse(words, cl)), "") << flag;
    Settings s;
    EXPECT_EQ(formatted(apply(words, s)), "") << flag;
  }
}

// --- help -----------------------------------------------------------------------

TEST(ConfigHelp, ListsEveryFlagWithItsDefault) {
  std::string help = help_text("sippeer");
  EXPECT_EQ(help.rfind("Usage: sippeer ", 0), 0u);
  for (const auto& row : settings_schema()) {
    if (!*row.flag) continue;
    EXPECT_NE(help.find(row.flag), std::string::npos) << row.flag;
    EXPECT_NE(help.find(std::string(row.key) + " = " + row.default_text), std::string::npos) << row.key;
  }
  for (const auto& opt : command_line_only_options()) EXPECT_NE(help.find(opt.flag), std::string::npos) << opt.flag;
}

}  // namespace
}  // namespace sippeer::adaptor
