#include "adaptor/sip/reject_log.h"

#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "adaptor/log.h"
#include "adaptor/sip/reject_limiter.h"

#include <sofia-sip/msg_addr.h>

namespace sippeer::adaptor {

namespace {

RejectLimiter g_limiter;
su_timer_t* g_timer = nullptr;
nta_agent_t* g_agent = nullptr;
usize_t g_parser_seen = 0;          // the agent's bad-request count already accounted for
std::uint64_t g_parser_pending = 0;  // refused since the last report
std::int64_t g_parser_reported_ms = -1'000'000;
std::int64_t g_parser_since_ms = 0;
constexpr std::int64_t kParserReportMs = 10'000;
const auto g_epoch = std::chrono::steady_clock::now();

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - g_epoch).count();
}

}  // namespace

std::string source_of(msg_t* msg) {
  su_sockaddr_t su{};
  socklen_t len = sizeof su;
  if (!msg || msg_get_address(msg, &su, &len) < 0) return "?";
  char ip[INET6_ADDRSTRLEN] = "?";
  if (su.su_family == AF_INET) inet_ntop(AF_INET, &su.su_sin.sin_addr, ip, sizeof ip);
  else if (su.su_family == AF_INET6) inet_ntop(AF_INET6, &su.su_sin6.sin6_addr, ip, sizeof ip);
  else return "?";
  const std::string host = su.su_family == AF_INET6 ? "[" + std::string(ip) + "]" : std::string(ip);
  return host + ":" + std::to_string(ntohs(su.su_port));
}

namespace {

void report_held(bool force) {
  for (const auto& h : g_limiter.flush(now_ms(), force)) {
    log_line(LogLevel::Warn, "", std::to_string(h.count) + " similar rejections suppressed in the last " +
                                     std::to_string((now_ms() - h.since_ms + 999) / 1000) + " s: " + h.reason +
                                     "; the last from " + h.last_source);
  }
}

void report_parser(bool force) {
  if (!g_agent) return;
  usize_t bad = 0;
  nta_agent_get_stats(g_agent, NTATAG_S_BAD_REQUEST_REF(bad), TAG_END());
  if (bad > g_parser_seen) {
    if (g_parser_pending == 0) g_parser_since_ms = now_ms();
    g_parser_pending += bad - g_parser_seen;
    g_parser_seen = bad;
  }
  if (g_parser_pending == 0 || (!force && now_ms() - g_parser_reported_ms < kParserReportMs)) return;
  log_line(LogLevel::Warn, "sip",
           std::to_string(g_parser_pending) + " malformed request(s) refused by the SIP parser in the last " +
               std::to_string(std::max<std::int64_t>(1, (now_ms() - g_parser_since_ms + 999) / 1000)) +
               " s (400/413/505 or dropped; sources only in log.sip_trace)");
  g_parser_pending = 0;
  g_parser_reported_ms = now_ms();
}

void on_timer(su_root_magic_t*, su_timer_t*, void*) {
  report_held(false);
  report_parser(false);
}

}  // namespace

void reject_log_start(su_root_t* root, nta_agent_t* agent) {
  if (g_timer || !root) return;
  g_agent = agent;
  g_timer = su_timer_create(su_root_task(root), 1000);
  if (g_timer) su_timer_set_for_ever(g_timer, &on_timer, nullptr);
}

void reject_log_stop() {
  report_held(true);
  report_parser(true);
  g_agent = nullptr;
  if (g_timer) su_timer_destroy(g_timer);
  g_timer = nullptr;
}

void log_rejected(const char* tag, msg_t* request, int status, const char* phrase, std::string_view why) {
  if (!log_enabled(LogLevel::Info)) return;
  const sip_t* sip = request ? sip_object(request) : nullptr;
  const char* method = sip && sip->sip_request ? sip->sip_request->rq_method_name : "request";
  // The reason, not the source, keys the limit: a flood from many
  // addresses is still one flood. Details the sender controls (an AOR, a
  // Proxy-Require tag) stay out of the key.
  const std::string reason = "[" + std::string(tag ? tag : "") + "] " + method + " -> " + std::to_string(status) +
                             " " + (phrase ? phrase : "");
  const std::string source = source_of(request);
  if (!g_limiter.admit(reason, source, now_ms())) return;
  std::string target;
  if (sip && sip->sip_request) {
    su_home_t home[1] = {SU_HOME_INIT(home)};
    if (char* u = url_as_string(home, sip->sip_request->rq_url)) target = std::string(" ") + u;
    su_home_deinit(home);
  }
  std::string text = "rejected " + std::string(method) + target + " from " + source + ": " + std::to_string(status) + " " +
                     (phrase ? phrase : "");
  if (!why.empty()) text += " (" + std::string(why) + ")";
  log_line(LogLevel::Info, tag, text);
}

}  // namespace sippeer::adaptor
