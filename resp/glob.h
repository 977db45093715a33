// Redis's glob-style pattern match (KEYS, SCAN MATCH, CONFIG GET): * ? [a-z]
// [^x] and \ escapes, as util.c stringmatchlen does it.
#pragma once

#include <string_view>

namespace cv::resp {

bool glob_match(std::string_view pattern, std::string_view s, bool nocase = false);

}  // namespace cv::resp
