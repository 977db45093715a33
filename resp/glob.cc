// Glob matching with Redis's rules (util.c stringmatchlen): the same
// answers, including its corner cases, and its bound on backtracking.
#include "resp/glob.h"

#include <cctype>
#include <utility>

namespace cv::resp {
namespace {

char fold(char c, bool nocase) { return nocase ? char(std::tolower((unsigned char)c)) : c; }

// kGiveUp: the rest of the pattern (after a '*') matched no suffix of the
// string, so no '*' before it need try a longer span either. This keeps a
// pattern like "*a*a*a*a*b" linear per star instead of exponential.
enum class Result { kMatch, kNoMatch, kGiveUp };

// Recursion is one level per '*'; past this a pattern is refused rather
// than risking the network thread's stack.
constexpr int kMaxStars = 1000;

Result match(const char* p, const char* pe, const char* s, const char* se, bool nocase, int depth) {
  if (depth > kMaxStars) return Result::kGiveUp;
  while (p < pe && s < se) {
    switch (*p) {
      case '*': {
        while (p + 1 < pe && p[1] == '*') ++p;
        if (p + 1 == pe) return Result::kMatch;
        // Redis tries the rest against every non-empty suffix only; an
        // empty one matches only trailing stars, handled below.
        for (; s < se; ++s) {
          const Result r = match(p + 1, pe, s, se, nocase, depth + 1);
          if (r != Result::kNoMatch) return r;
        }
        return Result::kGiveUp;
      }
      case '?': ++s; break;
      case '[': {
        ++p;
        const bool negate = p < pe && *p == '^';
        if (negate) ++p;
        bool hit = false;
        while (true) {
          if (p == pe) {
            // Unterminated: the class runs to the end of the pattern.
            --p;
            break;
          }
          if (*p == '\\' && pe - p >= 2) {
            ++p;
            hit |= *p == *s;  // Redis compares an escaped member exactly
          } else if (*p == ']') {
            break;
          } else if (pe - p >= 3 && p[1] == '-') {
            // A range, even one ending in ']' ("[a-]" is ']' to 'a').
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
        if (!hit) return Result::kNoMatch;
        ++s;
        break;
      }
      case '\\':
        if (pe - p >= 2) ++p;
        [[fallthrough]];
      default:
        if (fold(*p, nocase) != fold(*s, nocase)) return Result::kNoMatch;
        ++s;
        break;
    }
    ++p;
    if (s == se) {
      while (p < pe && *p == '*') ++p;
      break;
    }
  }
  return p == pe && s == se ? Result::kMatch : Result::kNoMatch;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view s, bool nocase) {
  return match(pattern.data(), pattern.data() + pattern.size(), s.data(), s.data() + s.size(), nocase, 0) ==
         Result::kMatch;
}

}  // namespace cv::resp
