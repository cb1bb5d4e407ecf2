// The node's trust setup (issue 14): the overlay key that P2P-Auth signs
// with, and Sofia's TLS transports for phones and for other nodes.
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "adaptor/log.h"
#include "adaptor/node/daemon.h"

namespace sippeer::adaptor {

constexpr const char* kLogTag = "dht";  // see adaptor/log.h

namespace {

// overlay.secret, or the first line of overlay.secret_file.
bool overlay_secret(const Settings& s, std::string* secret, std::string* err) {
  *secret = s.overlay_secret;
  if (s.overlay_secret_file.empty()) return true;
  std::FILE* f = std::fopen(s.overlay_secret_file.c_str(), "r");
  if (!f) return *err = "overlay.secret_file: cannot read " + s.overlay_secret_file + ": " + std::strerror(errno), false;
  char line[4096] = {};
  const bool got = std::fgets(line, sizeof line, f) != nullptr;
  std::fclose(f);
  std::string key = got ? line : "";
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) key.pop_back();
  if (key.empty()) return *err = "overlay.secret_file: " + s.overlay_secret_file + " holds no key on its first line", false;
  *secret = key;
  return true;
}


}  // namespace

// Sofia's TLS transport reads agent.pem (key and certificate) and
// cafile.pem from one directory: made from tls.* under state_dir/tls,
// readable by us only, anew at each start.
bool Daemon::start_tls(std::string* err) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(state_dir()) / "tls";
  std::error_code ec;
  fs::create_directories(dir, ec);
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  auto slurp = [&](const std::string& path, std::string* out) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    *out = ss.str();
    return static_cast<bool>(in) || !out->empty();
  };
  std::string key, cert, ca;
  if (!slurp(settings_.tls_private_key, &key)) return *err = "tls.private_key: cannot read " + settings_.tls_private_key, false;
  if (!slurp(settings_.tls_certificate, &cert)) return *err = "tls.certificate: cannot read " + settings_.tls_certificate, false;
  if (!settings_.tls_ca.empty() && !slurp(settings_.tls_ca, &ca)) return *err = "tls.ca: cannot read " + settings_.tls_ca, false;
  const mode_t old = ::umask(077);
  {
    std::ofstream agent(dir / "agent.pem", std::ios::trunc);
    agent << key << (key.empty() || key.back() == '\n' ? "" : "\n") << cert;
    std::ofstream cafile(dir / "cafile.pem", std::ios::trunc);
    cafile << (ca.empty() ? cert : ca);  // Sofia wants the file; without tls.ca our own chain
  }
  ::umask(old);
  tls_port_ = settings_.tls_port ? settings_.tls_port : port_ + 1;
  const std::string url = "sips:" + local_ip_ + ":" + std::to_string(tls_port_) + ";transport=tls";
  // Phones present no certificate: incoming connections are not asked for
  // one. What we connect to (other nodes, phones' and servers' sips:) is
  // checked against tls.ca when there is one.
  const unsigned verify = settings_.tls_ca.empty() ? TPTLS_VERIFY_NONE : TPTLS_VERIFY_OUT;
  if (nta_agent_add_tport(agent_, URL_STRING_MAKE(url.c_str()), TPTAG_CERTIFICATE(dir.c_str()),
                          TPTAG_TLS_VERIFY_POLICY(verify), TAG_END()) < 0)
    return *err = "cannot listen for TLS on " + local_ip_ + ":" + std::to_string(tls_port_) +
                  " (port in use, or tls.certificate / tls.private_key not a matching PEM pair); tls.port sets it",
           false;
  if (settings_.overlay_transport == "tls") {
    // Nodes have a port of their own, where a certificate signed by
    // tls.ca is required of the connecting side too (mutual), which the
    // phones' port cannot ask: phones have none.
    const int port = port_ + OverlayTransport::kOverlayTlsOffset;
    const std::string overlay = "sips:" + local_ip_ + ":" + std::to_string(port) + ";transport=tls";
    if (nta_agent_add_tport(agent_, URL_STRING_MAKE(overlay.c_str()), TPTAG_CERTIFICATE(dir.c_str()),
                            TPTAG_TLS_VERIFY_POLICY(TPTLS_VERIFY_ALL), TAG_END()) < 0)
      return *err = "cannot listen for overlay TLS on " + local_ip_ + ":" + std::to_string(port) +
                    " (sip.port + 2, for overlay.transport tls): in use?",
             false;
    SIPPEER_LOG(Info) << "overlay over TLS: listening on " << local_ip_ << ":" << port
                      << ", peers' certificates checked both ways against " << settings_.tls_ca;
  }
  SIPPEER_LOG(Info) << "listening on tls " << local_ip_ << ":" << tls_port_ << " (certificate "
                    << settings_.tls_certificate << (settings_.tls_ca.empty() ? "" : ", peers checked against " + settings_.tls_ca)
                    << ")";
  return true;
}

bool Daemon::start_overlay_auth(std::string* err) {
  std::string secret;
  if (!overlay_secret(settings_, &secret, err)) return false;
  ring_key_ = secret;
  overlay_auth_ = std::make_unique<OverlayAuth>(secret, settings_.overlay_previous_secret, settings_.overlay_auth_window_s);
  if (overlay_auth_->enabled()) {
    SIPPEER_LOG(Info) << "overlay: admission on: overlay messages are signed and checked (HMAC-SHA256)";
  } else if (local_ip_.rfind("127.", 0) != 0) {
    SIPPEER_LOG(Warn) << "overlay: no overlay.secret while listening on " << local_ip_
                      << ": any host that reaches this port can join the ring and overwrite registrations; "
                         "set overlay.secret (the same on every node) on a shared network";
  }
  return true;
}

bool Daemon::came_over_verified_tls(msg_t* msg) const {
  tport_t* tp = nta_incoming_transport(agent_, nullptr, msg);
  const bool ok = tp && tport_is_verified(tp);
  if (tp) tport_unref(tp);
  return ok;
}

}  // namespace sippeer::adaptor
