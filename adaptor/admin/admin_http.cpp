#include "adaptor/admin/admin_http.h"

#include <cerrno>
#include <cstring>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>

#include <chrono>
#include <future>
#include <memory>

#include "adaptor/admin/admin_guard.h"
#include "adaptor/admin/json.h"
#include "adaptor/log.h"

namespace sippeer::adaptor {

constexpr const char* kLogTag = "admin";  // see adaptor/log.h

namespace {

void send(evhttp_request* req, int code, const std::string& body, const char* type = "application/json") {
  evbuffer* buf = evbuffer_new();
  evbuffer_add(buf, body.data(), body.size());
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
  const char* reason = code == 200   ? "OK"
                       : code == 404 ? "Not Found"
                       : code == 400 ? "Bad Request"
                       : code == 401 ? "Unauthorized"
                       : code == 403 ? "Forbidden"
                       : code == 405 ? "Method Not Allowed"
                                     : "Service Unavailable";
  evhttp_send_reply(req, code, reason, buf);
  evbuffer_free(buf);
}

}  // namespace

AdminServer::~AdminServer() {
  // Let the loop run a moment longer so replies already queued (such as
  // the answer to POST /leave that led here) reach their clients.
  if (base_) {
    const timeval flush{0, 300 * 1000};
    event_base_loopexit(base_, &flush);
  }
  if (thread_.joinable()) thread_.join();
  if (http_) evhttp_free(http_);
  if (base_) event_base_free(base_);
}

std::string AdminServer::start(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) return "admin address must be ADDR:PORT, not " + listen;
  const std::string host = listen.substr(0, colon);
  const int port = std::atoi(listen.c_str() + colon + 1);
  evthread_use_pthreads();
  base_ = event_base_new();
  http_ = base_ ? evhttp_new(base_) : nullptr;
  if (!http_) return "cannot create the HTTP server";
  evhttp_set_allowed_methods(http_, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
  evhttp_set_gencb(http_, &AdminServer::on_request, this);
  if (!evhttp_bind_socket_with_handle(http_, host.c_str(), static_cast<ev_uint16_t>(port))) {
    const int e = errno;
    if (e == EADDRINUSE)
      return "port " + std::to_string(port) + " on " + host +
             " is already in use (another sippeer?); choose another with --admin ADDR:PORT "
             "(or admin.listen; \"\" disables the admin API)";
    return "cannot listen on " + listen + ": " + std::strerror(e);
  }
  thread_ = std::thread([this] { event_base_dispatch(base_); });
  return {};
}

void AdminServer::on_request(evhttp_request* req, void* arg) { static_cast<AdminServer*>(arg)->handle(req); }

bool AdminServer::refused(evhttp_request* req, bool post) {
  const evkeyvalq* in = evhttp_request_get_input_headers(req);
  auto header = [&](const char* name) -> std::string_view {
    const char* v = evhttp_find_header(in, name);
    return v ? v : "";
  };
  const AdminVerdict v = check_admin_request(
      {post, header("Authorization"), header("Origin"), header("Host"), header("Sec-Fetch-Site")}, token_);
  if (v.status == 200) return false;
  char* peer = nullptr;  // libevent 2.1 wants char**; 2.2 const char**
  ev_uint16_t port = 0;
  if (evhttp_connection* c = evhttp_request_get_connection(req)) evhttp_connection_get_peer(c, &peer, &port);
  SIPPEER_LOG(Warn) << "admin API: refused " << (post ? "POST " : "GET ") << evhttp_request_get_uri(req) << " from "
                    << (peer ? peer : "?") << ": " << v.status << " (" << v.why << ")";
  if (v.status == 401)
    evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer realm=\"sippeer\"");
  send(req, v.status, json_error(v.why) + "\n");
  return true;
}

void AdminServer::handle(evhttp_request* req) {
  const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
  const char* path = uri ? evhttp_uri_get_path(uri) : nullptr;
  const std::string p = path ? path : "/";
  std::string format, aor, scope;
  if (const char* q = uri ? evhttp_uri_get_query(uri) : nullptr) {
    evkeyvalq query;
    if (evhttp_parse_query_str(q, &query) == 0) {
      if (const char* v = evhttp_find_header(&query, "format")) format = v;
      if (const char* v = evhttp_find_header(&query, "aor")) aor = v;
      if (const char* v = evhttp_find_header(&query, "scope")) scope = v;
      evhttp_clear_headers(&query);
    }
  }
  const bool text = format == "text";
  const bool post = evhttp_request_get_command(req) == EVHTTP_REQ_POST;
  if (refused(req, post)) return;
  if (post != (p == "/leave") && p != "/users") {
    send(req, 405, json_error("use GET, and POST only for /leave and /users") + "\n");
    return;
  }
  if (p == "/leave") {
    daemon_.run_in_sip_thread([&] { daemon_.request_leave(); });
    send(req, 200, text ? "leaving the ring\n" : "{\"leaving\":true}\n", text ? "text/plain" : "application/json");
  } else if (text && (p == "/status" || p == "/successors" || p == "/fingers")) {
    NodeSnapshot snap;
    daemon_.run_in_sip_thread([&] { snap = daemon_.snapshot(); });
    send(req, 200, render_status_text(snap, p.substr(1)), "text/plain");
  } else if (p == "/registrations" && scope == "ring") {
    // Every node's own records (ctl regs --ring): a walk, then a List per
    // node, answered in the SIP thread much later.
    auto result = std::make_shared<std::promise<std::string>>();
    auto future = result->get_future();
    daemon_.run_in_sip_thread([&] {
      daemon_.ring_registrations([result, text](RingRegistrations r) {
        result->set_value(text ? render_ring_registrations_text(r) : render_ring_registrations_json(r) + "\n");
      });
    });
    if (future.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
      send(req, 503, json_error("the ring did not answer in time") + "\n");
      return;
    }
    send(req, 200, future.get(), text ? "text/plain" : "application/json");
  } else if (text && p == "/registrations") {
    std::vector<RegistrationView> regs;
    daemon_.run_in_sip_thread([&] { regs = daemon_.registrations(aor); });
    const std::string body = render_registrations_text(regs);
    send(req, body.empty() && !aor.empty() ? 404 : 200, body.empty() ? "no records\n" : body, "text/plain");
  } else if (p == "/ring" || p == "/ring.svg" || p == "/") {
    // All three walk the ring by lookups: the answer comes in the SIP
    // thread, maybe much later; the shared promise outlives a request
    // that gave up waiting.
    auto result = std::make_shared<std::promise<std::string>>();
    auto future = result->get_future();
    // The walk's answer is rendered in the SIP thread (it arrives there);
    // the snapshot it carries is a copy, so this is all it costs there.
    daemon_.run_in_sip_thread([&] {
      if (p == "/ring") {
        daemon_.walk_ring([result, json = !text](std::vector<NodeView> nodes, bool) {
          result->set_value(render_ring_walk(nodes, json));
        });
      } else {
        daemon_.ring_page_view([result, html = p == "/"](RingPageView v) {
          result->set_value(html ? render_ring_page(v) : render_ring_svg_document(v));
        });
      }
    });
    if (future.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
      send(req, 503, json_error("ring walk timed out") + "\n");
      return;
    }
    if (p == "/") send(req, 200, future.get(), "text/html; charset=utf-8");
    else if (p == "/ring.svg") send(req, 200, future.get(), "image/svg+xml");
    else send(req, 200, future.get() + (text ? "" : "\n"), text ? "text/plain" : "application/json");
  } else if (p == "/users" && post) {
    change_user(req);
  } else if (p == "/users") {
    std::vector<UserView> users;
    daemon_.run_in_sip_thread([&] { users = daemon_.users(); });
    const std::string body = text ? render_users_text(users) : render_users_json(users);
    send(req, 200, text ? (body.empty() ? "no users stored on this node\n" : body) : body + "\n",
         text ? "text/plain" : "application/json");
  } else if (p == "/status") {
    NodeSnapshot snap;
    daemon_.run_in_sip_thread([&] { snap = daemon_.snapshot(); });
    send(req, 200, render_status_json(snap) + "\n");
  } else if (p == "/registrations") {
    std::vector<RegistrationView> regs;
    daemon_.run_in_sip_thread([&] { regs = daemon_.registrations(aor); });
    send(req, 200, render_registrations_json(regs) + "\n");
  } else if (p == "/metrics") {
    NodeSnapshot snap;
    daemon_.run_in_sip_thread([&] { snap = daemon_.snapshot(); });
    send(req, 200, render_metrics(snap), "text/plain; version=0.0.4");
  } else if (p == "/lookup") {
    if (aor.empty()) {
      send(req, 400, json_error("missing ?aor=") + "\n");
      return;
    }
    // The lookup answers in the SIP thread, maybe much later; the shared
    // promise outlives an admin request that gave up waiting.
    auto result = std::make_shared<std::promise<std::pair<int, std::string>>>();
    auto future = result->get_future();
    daemon_.run_in_sip_thread([&] {
      daemon_.lookup_aor(aor, [result](int code, std::string body) {
        result->set_value({code, std::move(body)});
      });
    });
    const auto wait = std::chrono::milliseconds(daemon_.lookup_timeout_ms());
    if (future.wait_for(wait) != std::future_status::ready) {
      send(req, 503, json_error("lookup timed out") + "\n");
      return;
    }
    auto [code, body] = future.get();
    send(req, code, body + "\n");
  } else {
    send(req, 404, json_error("no such resource: " + p) + "\n");
  }
}

void AdminServer::change_user(evhttp_request* req) {
  // The form is in the body, never the URL: a password must not end up in
  // a log line that quotes a refused request's URI.
  evbuffer* in = evhttp_request_get_input_buffer(req);
  const std::size_t n = evbuffer_get_length(in);
  if (n > 8192) {
    send(req, 413, json_error("form too large") + "\n");
    return;
  }
  std::string form(n, '\0');
  evbuffer_copyout(in, form.data(), n);
  std::string op, aor, password;
  evkeyvalq fields;
  if (evhttp_parse_query_str(form.c_str(), &fields) == 0) {
    if (const char* v = evhttp_find_header(&fields, "op")) op = v;
    if (const char* v = evhttp_find_header(&fields, "aor")) aor = v;
    if (const char* v = evhttp_find_header(&fields, "password")) password = v;
    evhttp_clear_headers(&fields);
  }
  auto result = std::make_shared<std::promise<std::pair<int, std::string>>>();
  auto future = result->get_future();
  daemon_.run_in_sip_thread([&] {
    daemon_.change_user(op, aor, password, [result](int code, std::string body) {
      result->set_value({code, std::move(body)});
    });
  });
  if (future.wait_for(std::chrono::milliseconds(2 * daemon_.lookup_timeout_ms())) != std::future_status::ready) {
    send(req, 503, json_error("the ring did not answer in time") + "\n");
    return;
  }
  auto [code, body] = future.get();
  send(req, code, body + "\n");
}

}  // namespace sippeer::adaptor
