#include "adaptor/admin/ring_svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <numbers>

namespace sippeer::adaptor {

namespace {

constexpr double kWidth = 660, kHeight = 600;
constexpr double kCx = 330, kCy = 320, kRadius = 200;
constexpr std::size_t kMaxLabels = 48;  // beyond this, labels overlap: tooltips only

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

struct Point {
  double x, y;
};

// Clockwise from twelve o'clock, like a clock face: id 0 at the top.
Point on_circle(double position, double radius) {
  const double a = position * 2 * std::numbers::pi;
  return {kCx + radius * std::sin(a), kCy - radius * std::cos(a)};
}

std::string short_id(const std::string& id) {
  // Ids are fixed-width hex: the leading digits place a node on the circle.
  return id.size() > 6 ? id.substr(0, 6) : id;
}

std::string tooltip(const PictureNode& n) {
  std::string t = n.id + "\n" + n.uri;
  if (!n.roles.empty()) {
    t += "\n";
    for (std::size_t i = 0; i < n.roles.size(); ++i) t += (i ? ", " : "") + n.roles[i];
  }
  if (n.stored) {
    t += "\nstored keys: " + std::to_string(*n.stored) + " (" + std::to_string(n.primary) + " primary, " +
         std::to_string(n.replicas) + " replicas)";
  } else {
    t += "\nstored keys: not known to this node";
    if (n.replicated_here) t += " (at least " + std::to_string(n.replicated_here) + ": its records replicated here)";
  }
  return t;
}

}  // namespace

std::string render_ring_svg(const RingPicture& pic) {
  std::vector<const PictureNode*> order;
  for (const auto& n : pic.nodes) order.push_back(&n);
  // Ring order, self last so that it is drawn on top.
  std::stable_sort(order.begin(), order.end(), [](const PictureNode* a, const PictureNode* b) {
    if (a->self != b->self) return b->self;
    return a->position < b->position;
  });
  const PictureNode* self = nullptr;
  for (const auto* n : order)
    if (n->self) self = n;

  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"ring\" width=\"" + num(kWidth) +
                  "\" height=\"" + num(kHeight) + "\" viewBox=\"0 0 " + num(kWidth) + " " + num(kHeight) +
                  "\" data-nodes=\"" + std::to_string(pic.nodes.size()) + "\" data-bits=\"" +
                  std::to_string(pic.bits) + "\" data-walk-complete=\"" + (pic.walk_complete ? "true" : "false") +
                  "\" font-family=\"sans-serif\" font-size=\"11\">\n";
  s += "<title>sippeer ring, " + std::to_string(pic.nodes.size()) + " nodes known to " +
       xml_escape(self ? self->uri : std::string("this node")) + "</title>\n";
  s += "<style>"
       ".node circle{fill:#7f8c8d;stroke:#2c3e50;stroke-width:1}"
       ".node.neighbour circle{fill:#2e86c1}"
       ".node.self circle{fill:#c0392b;stroke:#641e16;stroke-width:2}"
       ".node.self text{font-weight:bold;fill:#c0392b}"
       ".finger{stroke:#e67e22;stroke-width:1.2;stroke-opacity:.7}"
       "</style>\n";
  s += "<text x=\"10\" y=\"18\" font-size=\"14\">" + xml_escape(self ? "ring seen from " + short_id(self->id) : "ring") +
       "</text>\n";
  s += "<text class=\"caption\" x=\"10\" y=\"36\">" + xml_escape(pic.caption) + "</text>\n";
  s += "<circle class=\"circle\" cx=\"" + num(kCx) + "\" cy=\"" + num(kCy) + "\" r=\"" + num(kRadius) +
       "\" fill=\"none\" stroke=\"#bdc3c7\" stroke-width=\"2\"/>\n";
  const Point zero = on_circle(0, kRadius);
  s += "<line x1=\"" + num(zero.x) + "\" y1=\"" + num(zero.y - 6) + "\" x2=\"" + num(zero.x) + "\" y2=\"" +
       num(zero.y + 6) + "\" stroke=\"#7f8c8d\"/><text x=\"" + num(zero.x + 4) + "\" y=\"" + num(zero.y - 8) +
       "\" fill=\"#7f8c8d\">0</text>\n";

  if (self) {
    const Point from = on_circle(self->position, kRadius);
    for (const auto* n : order) {
      if (!n->finger || n->self) continue;
      const Point to = on_circle(n->position, kRadius);
      s += "<line class=\"finger\" data-to=\"" + xml_escape(n->id) + "\" x1=\"" + num(from.x) + "\" y1=\"" +
           num(from.y) + "\" x2=\"" + num(to.x) + "\" y2=\"" + num(to.y) + "\"/>\n";
    }
  }

  const bool labels = pic.nodes.size() <= kMaxLabels;
  // Nodes closer than this (a fraction of a turn) would print their labels
  // on top of each other: every other one of a cluster goes inside the circle.
  constexpr double kCrowded = 0.02;
  std::map<const PictureNode*, int> level;
  {
    std::vector<const PictureNode*> by_position(order);
    std::sort(by_position.begin(), by_position.end(),
              [](const PictureNode* a, const PictureNode* b) { return a->position < b->position; });
    for (std::size_t i = 1; i < by_position.size(); ++i)
      if (by_position[i]->position - by_position[i - 1]->position < kCrowded)
        level[by_position[i]] = 1 - level[by_position[i - 1]];
  }
  for (const auto* n : order) {
    const bool neighbour = std::any_of(n->roles.begin(), n->roles.end(), [](const std::string& r) {
      return r == "predecessor" || r.rfind("successor", 0) == 0;
    });
    const Point p = on_circle(n->position, kRadius);
    s += std::string("<g class=\"node") + (n->self ? " self" : "") + (neighbour ? " neighbour" : "") +
         "\" data-id=\"" + xml_escape(n->id) + "\" data-uri=\"" + xml_escape(n->uri) + "\" data-self=\"" +
         (n->self ? "true" : "false") + "\" data-stored=\"" +
         (n->stored ? std::to_string(*n->stored) : std::string("unknown")) + "\">";
    s += "<title>" + xml_escape(tooltip(*n)) + "</title>";
    s += "<circle cx=\"" + num(p.x) + "\" cy=\"" + num(p.y) + "\" r=\"" + (n->self ? "9" : "6") + "\"/>";
    if (labels || n->self) {
      const double a = n->position * 2 * std::numbers::pi;
      const bool inside = level[n] == 1;
      const Point l = on_circle(n->position, inside ? kRadius - 16 : kRadius + 16);
      const double sx = std::sin(a) * (inside ? -1 : 1), cy = std::cos(a) * (inside ? -1 : 1);
      const char* anchor = sx > 0.25 ? "start" : sx < -0.25 ? "end" : "middle";
      const double y = l.y + (cy > 0.5 ? -2 : cy < -0.5 ? 10 : 4);
      std::string label = short_id(n->id);
      if (n->stored) label += " \xc2\xb7 " + std::to_string(*n->stored) + (*n->stored == 1 ? " key" : " keys");
      s += "<text x=\"" + num(l.x) + "\" y=\"" + num(y) + "\" text-anchor=\"" + anchor + "\">" +
           xml_escape(label) + "</text>";
    }
    s += "</g>\n";
  }
  s += "</svg>\n";
  return s;
}

}  // namespace sippeer::adaptor
