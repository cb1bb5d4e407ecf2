// GET /ring.svg and GET /: the ring as this node knows it (its routing
// state plus a ring walk), drawn as SVG and shown with a status table in
// a small HTML page. Built in the SIP thread once the walk is done.
#include <algorithm>
#include <map>

#include "adaptor/node/daemon.h"
#include "adaptor/admin/histogram.h"
#include "adaptor/admin/ring_svg.h"
#include "dht/ring_size.h"

namespace sippeer::adaptor {

namespace {

constexpr const char* kPageStyle =
    "body{font-family:sans-serif;margin:1.5em;color:#222}"
    "h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.5em}"
    "table{border-collapse:collapse;font-size:.9em}"
    "th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}"
    "th{background:#f4f6f7}code{font-size:.95em}"
    "ol,ul{margin:0;padding-left:1.4em}"
    ".layout{display:flex;flex-wrap:wrap;gap:2em;align-items:flex-start}"
    "tr.self td{font-weight:bold;color:#c0392b}";

// "3-7" for a run of consecutive finger indices.
std::string range(int from, int to) { return from == to ? std::to_string(from) : std::to_string(from) + "-" + std::to_string(to); }

}  // namespace

void Daemon::ring_page(bool html, std::function<void(std::string)> done) {
  walk_ring_nodes([this, html, done](std::vector<dht::NodeRef> walked, bool complete) {
    const dht::NodeStatus s = node_->status();
    const dht::Ring& ring = *ring_;
    RingPicture pic;
    pic.bits = ring.bits();
    pic.walk_complete = complete;
    std::map<std::string, std::size_t> index;  // address -> pic.nodes
    auto add = [&](const dht::NodeRef& n, std::string role) -> PictureNode& {
      auto [it, fresh] = index.emplace(n.address, pic.nodes.size());
      if (fresh) {
        PictureNode p;
        p.position = dht::ring_fraction(ring, n.id);
        p.id = ring.hex(n.id);
        p.uri = codec_->node_uri(n);
        pic.nodes.push_back(std::move(p));
      }
      PictureNode& p = pic.nodes[it->second];
      if (!role.empty()) p.roles.push_back(std::move(role));
      return p;
    };
    PictureNode& me = add(s.self, "self");
    me.self = true;
    me.primary = s.primary_records;
    me.replicas = s.replica_records;
    me.stored = s.primary_records + s.replica_records;
    if (s.predecessor) add(*s.predecessor, "predecessor");
    for (std::size_t i = 0; i < s.successors.size(); ++i) add(s.successors[i], "successor " + std::to_string(i + 1));
    for (std::size_t i = 0; i < s.fingers.size();) {
      std::size_t j = i;
      while (j + 1 < s.fingers.size() && s.fingers[j + 1].node == s.fingers[i].node) ++j;
      if (!s.fingers[i].node.empty() && s.fingers[i].node.address != s.self.address)
        add(s.fingers[i].node, "finger " + range(s.fingers[i].index, s.fingers[j].index)).finger = true;
      i = j + 1;
    }
    for (const auto& n : walked) add(n, "");
    for (auto& p : pic.nodes)
      if (p.roles.empty()) p.roles.push_back("found by the ring walk");

    // Whose records we keep copies of: only when the walk gave us the
    // whole ring can a key's owner be named with confidence.
    if (complete && walked.size() > 1) {
      std::vector<dht::NodeRef> sorted = walked;
      std::sort(sorted.begin(), sorted.end(), [](const dht::NodeRef& a, const dht::NodeRef& b) { return a.id < b.id; });
      storage_->for_each([&](const dht::StoredRecord& sr) {
        if (node_->owns(sr.record.key)) return;
        auto it = std::lower_bound(sorted.begin(), sorted.end(), sr.record.key,
                                   [](const dht::NodeRef& n, const dht::Id& k) { return n.id < k; });
        const dht::NodeRef& owner = it == sorted.end() ? sorted.front() : *it;
        if (owner.address != s.self.address) ++pic.nodes[index[owner.address]].replicated_here;
      });
    }
    const double estimate = dht::estimate_ring_size(ring, s.self, s.predecessor, s.successors);
    char est[32];
    std::snprintf(est, sizeof est, "%.1f", estimate);
    pic.caption = "m = " + std::to_string(ring.bits()) + " bits; " + std::to_string(pic.nodes.size()) +
                  " nodes known; ring walk " + (complete ? "complete" : "incomplete") + "; size estimate " + est;
    const std::string svg = render_ring_svg(pic);
    if (!html) return done("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + svg);

    const auto& c = *codec_;
    auto cell = [](const std::string& text) { return "<td><code>" + xml_escape(text) + "</code></td>"; };
    std::string h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>sippeer " +
                    xml_escape(ring.hex(s.self.id).substr(0, 8)) + " at " + xml_escape(local_address_) +
                    "</title><style>" + kPageStyle + "</style></head><body>\n";
    h += "<h1>sippeer node " + xml_escape(local_address_) + "</h1>\n<div class=\"layout\">\n<div>" + svg + "</div>\n";
    h += "<div><table id=\"status\" class=\"status\">\n";
    auto row = [&](const std::string& name, const std::string& td) { h += "<tr><th>" + name + "</th>" + td + "</tr>\n"; };
    row("id", cell(ring.hex(s.self.id)));
    row("uri", cell(c.node_uri(s.self)));
    row("state", cell(dht::state_name(s.state)));
    row("joined", cell(s.state == dht::NodeStatus::State::Joined ? "yes" : "no"));
    row("discovery", cell(discovery_->method()));
    row("predecessor", cell(s.predecessor ? c.node_uri(*s.predecessor) : "-"));
    std::string succ = "<td><ol>";
    for (const auto& n : s.successors) succ += "<li><code>" + xml_escape(c.node_uri(n)) + "</code></li>";
    row("successors", succ + "</ol></td>");
    std::string fingers = "<td><ul>";
    for (std::size_t i = 0; i < s.fingers.size();) {
      std::size_t j = i;
      while (j + 1 < s.fingers.size() && s.fingers[j + 1].node == s.fingers[i].node) ++j;
      fingers += "<li>" + range(s.fingers[i].index, s.fingers[j].index) + ": <code>" +
                 xml_escape(s.fingers[i].node.empty() ? "-" : c.node_uri(s.fingers[i].node)) + "</code></li>";
      i = j + 1;
    }
    row("fingers", fingers + "</ul></td>");
    row("stored", "<td>" + std::to_string(s.primary_records) + " primary, " + std::to_string(s.replica_records) +
                      " replicas</td>");
    row("ring size estimate", "<td>" + std::string(est) + "</td>");
    h += "</table></div>\n</div>\n<h2>Nodes known to this node</h2>\n<table id=\"nodes\">\n"
         "<tr><th>id</th><th>uri</th><th>role here</th><th>stored keys</th></tr>\n";
    std::vector<const PictureNode*> order;
    for (const auto& p : pic.nodes) order.push_back(&p);
    std::sort(order.begin(), order.end(), [](const PictureNode* a, const PictureNode* b) { return a->position < b->position; });
    for (const auto* p : order) {
      std::string roles;
      for (std::size_t i = 0; i < p->roles.size(); ++i) roles += (i ? ", " : "") + p->roles[i];
      std::string stored = p->stored ? std::to_string(*p->stored) : "unknown";
      if (!p->stored && p->replicated_here) stored += " (at least " + std::to_string(p->replicated_here) + ")";
      h += std::string("<tr") + (p->self ? " class=\"self\"" : "") + ">" + cell(p->id) + cell(p->uri) + "<td>" +
           xml_escape(roles) + "</td><td>" + xml_escape(stored) + "</td></tr>\n";
    }
    h += "</table>\n<p>JSON: <a href=\"/status\">/status</a> <a href=\"/registrations\">/registrations</a> "
         "<a href=\"/ring\">/ring</a>; <a href=\"/metrics\">/metrics</a>; <a href=\"/ring.svg\">/ring.svg</a></p>\n"
         "</body></html>\n";
    done(h);
  });
}

}  // namespace sippeer::adaptor
