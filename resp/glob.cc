// Glob matching with Redis's rules. Recursion on '*' is bounded by the
// pattern's length, which the parser's limits bound.
#include "resp/glob.h"

#include <cctype>

namespace cv::resp {
namespace {

char fold(char c, bool nocase) { return nocase ? char(std::tolower((unsigned char)c)) : c; }

bool match(const char* p, const char* pe, const char* s, const char* se, bool nocase, int depth) {
  if (depth > 1000) return false;
  while (p < pe) {
    switch (*p) {
      case '*':
        while (p + 1 < pe && p[1] == '*') ++p;
        if (p + 1 == pe) return true;
        for (const char* t = s; t <= se; ++t)
          if (match(p + 1, pe, t, se, nocase, depth + 1)) return true;
        return false;
      case '?':
        if (s == se) return false;
        ++s;
        break;
      case '[': {
        if (s == se) return false;
        ++p;
        const bool negate = p < pe && *p == '^';
        if (negate) ++p;
        bool hit = false;
        while (p < pe && *p != ']') {
          if (*p == '\\' && p + 1 < pe) {
            ++p;
            hit |= fold(*p, nocase) == fold(*s, nocase);
          } else if (p + 2 < pe && p[1] == '-' && p[2] != ']') {
            char lo = fold(p[0], nocase), hi = fold(p[2], nocase);
            if (lo > hi) std::swap(lo, hi);
            const char c = fold(*s, nocase);
            hit |= c >= lo && c <= hi;
            p += 2;
          } else {
            hit |= fold(*p, nocase) == fold(*s, nocase);
          }
          ++p;
        }
        if (negate) hit = !hit;
        if (!hit) return false;
        ++s;
        break;
      }
      case '\\':
        if (p + 1 < pe) ++p;
        [[fallthrough]];
      default:
        if (s == se || fold(*p, nocase) != fold(*s, nocase)) return false;
        ++s;
        break;
    }
    if (p < pe) ++p;
  }
  return s == se;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view s, bool nocase) {
  return match(pattern.data(), pattern.data() + pattern.size(), s.data(), s.data() + s.size(), nocase, 0);
}

}  // namespace cv::resp
