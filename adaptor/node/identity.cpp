// auth.* (issue 13): the store that keeps credentials on disk, the
// authenticator the proxy asks, and the e-mail sign-up of report 5.2.

#include <openssl/rand.h>

#include <filesystem>
#include <thread>

#include "adaptor/log.h"
#include "adaptor/node/daemon.h"
#include "adaptor/node/mailer.h"
#include "adaptor/registrar/durable_storage.h"
#include "adaptor/sip/crypto.h"

namespace sippeer::adaptor {

constexpr const char* kLogTag = "auth";  // see adaptor/log.h

namespace {

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes));
  return hex_of(reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
}

// Twelve characters a user can type on a phone's keypad menu without
// confusing 0/O or 1/l: about 68 bits.
std::string new_password() {
  static constexpr char kAlphabet[] = "abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY3479";
  unsigned char r[12];
  RAND_bytes(r, sizeof r);
  std::string p;
  for (unsigned char ch : r) p += kAlphabet[ch % (sizeof kAlphabet - 1)];
  return p;
}

}  // namespace

std::vector<digest::Algorithm> auth_algorithms(const Settings& s) {
  std::vector<digest::Algorithm> out;
  for (const auto& name : s.auth_algorithms)
    if (auto a = digest::parse_algorithm(name)) out.push_back(*a);  // validated at load
  return out;
}

bool Daemon::open_storage(std::string* err) {
  const std::filesystem::path dir = state_dir();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string path = (dir / "credentials.db").string();
  DurableStorage::Clock clock{[this] { return now(); }, [] { return unix_now(); }};
  std::string why;
  if (auto durable = DurableStorage::open(path, clock, &why)) {
    if (durable->loaded())
      SIPPEER_LOG(Info) << "auth: " << durable->loaded() << " credentials read from " << path;
    if (durable->loaded_mailboxes())
      SIPPEER_LOG(Info) << "offline: " << durable->loaded_mailboxes() << " mailboxes read from " << path;
    storage_ = std::move(durable);
    return true;
  }
  if (settings_.auth_mode != "off")
    return *err = "auth.mode " + settings_.auth_mode + " keeps credentials on disk, but " + why, false;
  SIPPEER_LOG(Warn) << "auth: " << why << "; credentials this node stores will not survive a restart";
  storage_ = std::make_unique<dht::MemoryStorage>();
  return true;
}

void Daemon::start_auth() {
  // Nonces made under the ring's key are good at every node (the
  // registrar moved, the phone changed its edge); without one, this
  // process's own key.
  const std::string nonce_key = ring_key_.empty() ? random_hex(32) : "nonce\n" + ring_key_;
  AuthPolicy policy;
  policy.nonce_lifetime_s = settings_.auth_nonce_lifetime_s;
  policy.max_failures = settings_.auth_max_failures;
  policy.failure_window_s = settings_.auth_failure_window_s;
  policy.algorithms = auth_algorithms(settings_);
  authenticator_ = std::make_unique<Authenticator>(nonce_key, policy);
  credential_cache_ = std::make_unique<CredentialCache>(static_cast<std::size_t>(settings_.auth_cache_entries),
                                                        settings_.auth_cache_ttl_s);
  signups_ = std::make_unique<digest::FailureLimiter>(settings_.auth_signups_per_source, 3600);
  const bool shared = local_ip_.rfind("127.", 0) != 0;
  if (settings_.auth_mode == "off") {
    if (shared)
      SIPPEER_LOG(Warn) << "auth: auth.mode off while listening on " << local_ip_
                        << ": any phone that reaches this node can register as any user and call as anyone; "
                           "set auth.mode provisioned and add users with `sippeer ctl user add`";
    return;
  }
  std::string offered;
  for (const auto& a : settings_.auth_algorithms) offered += (offered.empty() ? "" : ", ") + a;
  SIPPEER_LOG(Info) << "auth: " << settings_.auth_mode << ": REGISTER challenged by the AOR's registrar, "
                    << "calls by the phone's node (digest: " << offered << ")";
  if (ring_key_.empty() && shared)
    SIPPEER_LOG(Warn) << "auth: no overlay.secret: credentials (HA1 hashes) can be asked for by any host that "
                         "reaches the overlay, and a forged P2P-Identity passes a call unchecked; set "
                         "overlay.secret on every node";
}

void Daemon::mail_password(const std::string& aor, const AorParts& parts, const dht::Id& key,
                           const std::string& source) {
  const std::int64_t now_s = unix_now();
  if (signups_->blocked(source, now_s)) {
    SIPPEER_LOG(Info) << "auth: sign-up of " << aor << " from " << source << " refused: "
                      << settings_.auth_signups_per_source << " sign-ups from it this hour (auth.signups_per_hour)";
    return;
  }
  signups_->fail(source, now_s);
  const std::string password = new_password();
  const Credential c = Credential::from_password(parts.user, parts.realm, password);
  const dht::Duration ttl = std::chrono::hours(24) * settings_.auth_credential_ttl_days;
  reschedule(node_->store_here(now(), dht::Record{key, aor, {encode_credential(c)}, credential_version_now(),
                                                  dht::RecordKind::Credential},
                               ttl));
  ++signup_mails_;
  Mail mail;
  mail.from = settings_.auth_mail_from;
  mail.to = aor.substr(aor.find(':') + 1);
  mail.subject = "Your SIP password for " + mail.to;
  mail.body = "Someone at " + source + " signed up as " + aor +
              " on a sippeer ring.\n\n"
              "  user:     " + parts.user + "\n"
              "  realm:    " + parts.realm + "\n"
              "  password: " + password + "\n\n"
              "Put this password in your phone's account settings. If it was not you,\n"
              "ignore this mail; the account expires unused after " +
              std::to_string(settings_.auth_credential_ttl_days) + " days.\n";
  SIPPEER_LOG(Info) << "auth: " << aor << " signed up from " << source << "; mailing its password to " << mail.to
                    << " through " << settings_.auth_smtp;
  // SMTP blocks for up to seconds: on a thread of its own, never the SIP
  // thread. It owns copies of what it needs, so it may outlive us.
  std::thread([relay = settings_.auth_smtp, mail, aor] {
    const std::string e = send_mail(relay, mail);
    if (e.empty()) SIPPEER_LOG(Info) << "auth: password for " << aor << " mailed";
    else SIPPEER_LOG(Error) << "auth: cannot mail the password for " << aor << ": " << e;
  }).detach();
}

}  // namespace sippeer::adaptor
