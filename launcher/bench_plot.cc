// Two line charts side by side, drawn as plain SVG: throughput (records/s of
// load and restore) and time (backup seconds) against the record count.
#include "launcher/bench_plot.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <sstream>

namespace cv::launcher {

namespace {

struct Series {
  std::string label;
  std::string color;
  std::vector<double> y;
};

void chart(std::ostringstream& svg, double x0, const std::string& title, const std::string& unit,
           const std::vector<double>& xs, const std::vector<Series>& series) {
  const double w = 420, h = 260, left = x0 + 70, top = 50, right = x0 + w, bottom = top + h;
  double ymax = 0;
  for (const auto& s : series)
    for (double v : s.y) ymax = std::max(ymax, v);
  ymax = ymax > 0 ? ymax * 1.15 : 1;
  const double lx0 = std::log10(xs.front()), lx1 = std::log10(xs.back());
  auto px = [&](double x) { return left + (std::log10(x) - lx0) / (lx1 - lx0 + 1e-9) * (right - left - 20); };
  auto py = [&](double y) { return bottom - y / ymax * h; };
  svg << "<text x='" << (left + right) / 2 << "' y='30' text-anchor='middle' font-size='15'>" << title << "</text>\n";
  svg << "<line x1='" << left << "' y1='" << bottom << "' x2='" << right << "' y2='" << bottom
      << "' stroke='black'/><line x1='" << left << "' y1='" << top << "' x2='" << left << "' y2='" << bottom
      << "' stroke='black'/>\n";
  for (int i = 0; i <= 4; ++i) {
    const double v = ymax * i / 4;
    svg << "<text x='" << left - 6 << "' y='" << py(v) + 4 << "' text-anchor='end' font-size='11'>";
    if (v >= 1e6)
      svg << std::fixed << std::setprecision(2) << v / 1e6 << "M";
    else if (v >= 1e3)
      svg << std::fixed << std::setprecision(0) << v / 1e3 << "k";
    else
      svg << std::fixed << std::setprecision(2) << v;
    svg << "</text><line x1='" << left << "' y1='" << py(v) << "' x2='" << right << "' y2='" << py(v)
        << "' stroke='#ddd'/>\n";
  }
  for (double x : xs)
    svg << "<text x='" << px(x) << "' y='" << bottom + 16 << "' text-anchor='middle' font-size='11'>"
        << (x >= 1e6 ? std::to_string(int(x / 1e6)) + "M" : std::to_string(int(x / 1e3)) + "k") << "</text>\n";
  svg << "<text x='" << (left + right) / 2 << "' y='" << bottom + 34
      << "' text-anchor='middle' font-size='12'>records (log scale)</text>\n";
  svg << "<text x='" << x0 + 14 << "' y='" << (top + bottom) / 2 << "' font-size='12' transform='rotate(-90 "
      << x0 + 14 << " " << (top + bottom) / 2 << ")' text-anchor='middle'>" << unit << "</text>\n";
  int li = 0;
  for (const auto& s : series) {
    svg << "<polyline fill='none' stroke='" << s.color << "' stroke-width='2' points='";
    for (size_t i = 0; i < xs.size(); ++i) svg << px(xs[i]) << "," << py(s.y[i]) << " ";
    svg << "'/>\n";
    for (size_t i = 0; i < xs.size(); ++i)
      svg << "<circle cx='" << px(xs[i]) << "' cy='" << py(s.y[i]) << "' r='3' fill='" << s.color << "'/>\n";
    svg << "<text x='" << left + 10 << "' y='" << top + 14 + 15 * li++ << "' font-size='12' fill='" << s.color
        << "'>" << s.label << "</text>\n";
  }
}

}  // namespace

Status write_bench_plot(const std::string& path, const nlohmann::json& runs) {
  std::vector<double> xs;
  Series load{"load", "#1f77b4", {}}, restore{"restore", "#d62728", {}}, backup{"backup", "#2ca02c", {}},
      consolidate{"consolidation", "#9467bd", {}};
  for (const auto& r : runs) {
    xs.push_back(r["records"].get<double>());
    load.y.push_back(r["load_records_per_s"].get<double>());
    restore.y.push_back(r["restore_records_per_s"].get<double>());
    backup.y.push_back(r["backup_seconds"].get<double>());
    consolidate.y.push_back(r["consolidate_seconds"].get<double>());
  }
  std::ostringstream svg;
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='900' height='360' font-family='sans-serif'>\n"
      << "<rect width='100%' height='100%' fill='white'/>\n";
  chart(svg, 0, "throughput", "records/s", xs, {load, restore});
  chart(svg, 450, "backup time", "seconds", xs, {backup, consolidate});
  svg << "</svg>\n";
  std::ofstream out(path);
  out << svg.str();
  if (!out) return Status::io_error("cannot write --plot " + path);
  return Status::ok();
}

}  // namespace cv::launcher
