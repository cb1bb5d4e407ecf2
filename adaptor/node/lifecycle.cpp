// Signals, the graceful leave (report 3.9, 3.18) and the peer cache.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "adaptor/node/daemon.h"
#include "adaptor/log.h"

namespace sippeer::adaptor {

constexpr const char* kLogTag = "dht";  // see adaptor/log.h

namespace {
int g_signal_fd = -1;
void on_posix_signal(int sig) {
  const unsigned char b = static_cast<unsigned char>(sig);
  if (g_signal_fd >= 0) (void)!::write(g_signal_fd, &b, 1);
}
}  // namespace

bool Daemon::watch_signals(std::string* err) {
  // Self-pipe: the handler only writes a byte; the SIP loop does the work.
  if (::pipe2(signal_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) return *err = "pipe failed", false;
  g_signal_fd = signal_pipe_[1];
  struct sigaction sa {};
  sa.sa_handler = on_posix_signal;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaction(s, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  su_wait_create(signal_wait_, signal_pipe_[0], SU_WAIT_IN);
  signal_index_ = su_root_register(root_, signal_wait_, &Daemon::on_signal, this, 0);
  return signal_index_ >= 0 || (*err = "cannot watch signals", false);
}

int Daemon::on_signal(su_root_magic_t*, su_wait_t*, void* arg) {
  auto* self = static_cast<Daemon*>(arg);
  unsigned char b = 0;
  while (::read(self->signal_pipe_[0], &b, 1) == 1) {
    if (b == SIGHUP) {
      self->reload_settings();
    } else if (self->leaving_) {
      SIPPEER_LOG(Warn) << "second signal: exiting without waiting for the leave to finish";
      su_root_break(self->root_);
    } else {
      SIPPEER_LOG(Info) << (b == SIGTERM ? "SIGTERM" : "SIGINT") << ": leaving the ring";
      self->begin_leave();
    }
  }
  return 0;
}

void Daemon::reload_settings() {
  // What may change while running is the schema's `live` column
  // (adaptor/config/settings.cpp); the rest is reported as needing a restart.
  if (!reload_) return;
  service_->reloading();
  struct Reloaded {  // READY=1 again however the reload ends
    ServiceManager* s;
    ~Reloaded() { s->reloaded(); }
  } reloaded{service_.get()};
  Settings fresh;
  if (auto errors = reload_(fresh); !errors.empty()) {
    for (const auto& e : errors) SIPPEER_LOG(Error) << "SIGHUP: " << e.format();
    SIPPEER_LOG(Error) << "SIGHUP: configuration not reloaded; still running with the old one";
    return;
  }
  // The proxy and admission read settings_ per request, so copying is
  // applying; only the log level and the registrar's policy are kept
  // elsewhere.
  const LiveReload r = copy_live_settings(fresh, settings_);
  set_log_level(settings_.log_level);
  RegistrarPolicy policy;
  policy.min_expires = settings_.min_expires;
  policy.max_expires = settings_.max_expires;
  policy.default_expires = settings_.default_expires;
  policy.single_contact_user_agents = settings_.single_contact_user_agents;
  policy.max_contacts = settings_.max_contacts;
  policy.max_records = static_cast<std::size_t>(settings_.max_records);
  proxy_->set_policy(policy);
  if (authenticator_) authenticator_->set_algorithms(auth_algorithms(settings_));
  auto joined = [](const std::vector<std::string>& keys) {
    std::string out;
    for (const auto& k : keys) out += (out.empty() ? "" : ", ") + k;
    return out;
  };
  SIPPEER_LOG(Info) << "SIGHUP: reloaded; applied: " << (r.applied.empty() ? "nothing changed" : joined(r.applied));
  if (!r.need_restart.empty()) SIPPEER_LOG(Warn) << "SIGHUP: changed but needs a restart: " << joined(r.need_restart);
}

void Daemon::begin_leave() {
  leaving_ = true;
  service_->stopping("leaving the ring");
  const dht::NodeStatus st = node_->routing_status();
  alone_at_leave_ = st.successors.empty() || st.successors[0].address == local_address_;
  write_peer_cache();
  if (!node_->joined()) {
    finish_leave();
    return;
  }
  // Report 6.1: a leaving registrar ends the subscriptions it parked, so
  // the watchers subscribe again through the key's next owner.
  if (proxy_) {
    proxy_->terminate_parked_on_leave();
    proxy_->leave_next_level();
  }
  reschedule(node_->leave(now()));
  if (leaving_ && root_) {
    // The node waits for every neighbour to confirm or time out; this is a
    // backstop in case a confirmation never comes.
    leave_timer_ = su_timer_create(su_root_task(root_), settings_.request_timeout_ms * 2 + 1000);
    su_timer_set(leave_timer_, &Daemon::on_leave_timeout, this);
  }
}

void Daemon::on_leave_timeout(su_root_magic_t*, su_timer_t*, void* arg) {
  SIPPEER_LOG(Warn) << "leave: neighbours did not all confirm in time";
  static_cast<Daemon*>(arg)->finish_leave();
}

void Daemon::finish_leave() {
  if (!leaving_) return;  // on_left can only follow our own leave
  if (alone_at_leave_) SIPPEER_LOG(Info) << "left the ring; we were its only node, so no records were handed over";
  else SIPPEER_LOG(Info) << "left the ring; records handed to the successor";
  su_root_break(root_);
}

void Daemon::on_cache_timer(su_root_magic_t*, su_timer_t*, void* arg) {
  static_cast<Daemon*>(arg)->write_peer_cache();
}

std::string Daemon::state_dir() const { return resolved_state_dir(settings_); }

void Daemon::write_peer_cache() const {
  if (!node_ || !node_->joined()) return;
  const dht::NodeStatus s = node_->routing_status();
  std::set<std::string> peers;
  for (const auto& n : s.successors) peers.insert(n.address.str());
  for (const auto& f : s.fingers) peers.insert(f.node.address.str());
  if (s.predecessor) peers.insert(s.predecessor->address.str());
  peers.erase(local_address_);
  peers.erase("");
  if (peers.empty()) return;  // keep what an earlier, better-connected run knew
  std::error_code ec;
  const std::filesystem::path dir = state_dir();
  std::filesystem::create_directories(dir, ec);
  const auto tmp = dir / "peers.tmp";
  {
    std::ofstream out(tmp);
    for (const auto& p : peers) out << p << "\n";
    if (!out) {
      SIPPEER_LOG(Warn) << "peer cache: cannot write " << tmp.string();
      return;
    }
  }
  std::filesystem::rename(tmp, dir / "peers", ec);
}

std::vector<std::string> Daemon::read_peer_cache() const {
  std::vector<std::string> out;
  std::ifstream in(std::filesystem::path(state_dir()) / "peers");
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line != local_address_) out.push_back(line);
  return out;
}

}  // namespace sippeer::adaptor
