// GET /ring.svg and GET /: the ring as this node knows it (its routing
// state plus a ring walk), drawn as SVG and shown with a status table in
// a small HTML page, rendered from a RingPageView (node_snapshot.h).
#include <algorithm>
#include <map>

#include "adaptor/admin/node_snapshot.h"
#include "adaptor/admin/ring_svg.h"
#include "adaptor/xml.h"

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

namespace {

RingPicture picture_of(const RingPageView& v) {
  const NodeSnapshot& s = v.node;
  RingPicture pic;
  pic.bits = s.bits;
  pic.walk_complete = v.complete;
  std::map<std::string, std::size_t> index;  // address -> pic.nodes
  auto add = [&](const NodeView& n, std::string role) -> PictureNode& {
    auto [it, fresh] = index.emplace(n.address, pic.nodes.size());
    if (fresh) {
      PictureNode p;
      p.position = n.position;
      p.id = n.id;
      p.uri = n.uri;
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
    if (s.fingers[i].node && s.fingers[i].node->address != s.self.address)
      add(*s.fingers[i].node, "finger " + range(s.fingers[i].index, s.fingers[j].index)).finger = true;
    i = j + 1;
  }
  for (const auto& n : v.walked) add(n, "");
  for (auto& p : pic.nodes)
    if (p.roles.empty()) p.roles.push_back("found by the ring walk");
  // Whose records we keep copies of (counted only when the walk gave the
  // whole ring, so that a key's owner can be named with confidence).
  for (const auto& [owner, n] : v.replicated_here) {
    auto it = index.find(owner);
    if (it != index.end() && owner != s.self.address) pic.nodes[it->second].replicated_here += n;
  }
  char est[32];
  std::snprintf(est, sizeof est, "%.1f", s.ring_size_estimate);
  pic.caption = "m = " + std::to_string(s.bits) + " bits; " + std::to_string(pic.nodes.size()) +
                " nodes known; ring walk " + (v.complete ? "complete" : "incomplete") + "; size estimate " + est;
  return pic;
}

}  // namespace

std::string render_ring_svg_document(const RingPageView& v) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + render_ring_svg(picture_of(v));
}

std::string render_ring_page(const RingPageView& v) {
  const NodeSnapshot& s = v.node;
  const RingPicture pic = picture_of(v);
  const std::string svg = render_ring_svg(pic);
  char est[32];
  std::snprintf(est, sizeof est, "%.1f", s.ring_size_estimate);
  auto cell = [](const std::string& text) { return "<td><code>" + xml_escape(text) + "</code></td>"; };
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>sippeer " +
                  xml_escape(s.self.id.substr(0, 8)) + " at " + xml_escape(s.local_address) +
                  "</title><style>" + kPageStyle + "</style></head><body>\n";
  h += "<h1>sippeer node " + xml_escape(s.local_address) + "</h1>\n<div class=\"layout\">\n<div>" + svg + "</div>\n";
  h += "<div><table id=\"status\" class=\"status\">\n";
  auto row = [&](const std::string& name, const std::string& td) { h += "<tr><th>" + name + "</th>" + td + "</tr>\n"; };
  row("id", cell(s.self.id));
  row("uri", cell(s.self.uri));
  row("state", cell(s.state));
  row("joined", cell(s.joined ? "yes" : "no"));
  row("discovery", cell(s.discovery));
  row("predecessor", cell(s.predecessor ? s.predecessor->uri : "-"));
  std::string succ = "<td><ol>";
  for (const auto& n : s.successors) succ += "<li><code>" + xml_escape(n.uri) + "</code></li>";
  row("successors", succ + "</ol></td>");
  std::string fingers = "<td><ul>";
  for (std::size_t i = 0; i < s.fingers.size();) {
    std::size_t j = i;
    while (j + 1 < s.fingers.size() && s.fingers[j + 1].node == s.fingers[i].node) ++j;
    fingers += "<li>" + range(s.fingers[i].index, s.fingers[j].index) + ": <code>" +
               xml_escape(s.fingers[i].node ? s.fingers[i].node->uri : "-") + "</code></li>";
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
  return h;
}

}  // namespace sippeer::adaptor
