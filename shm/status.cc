// Names for status codes and the errno-to-Status wrapper.
#include "shm/status.h"

#include <cerrno>
#include <cstring>

namespace cv {

const char* code_name(Code c) {
  switch (c) {
    case Code::kOk: return "ok";
    case Code::kNotFound: return "not found";
    case Code::kInvalidArgument: return "invalid argument";
    case Code::kIoError: return "I/O error";
    case Code::kCorrupt: return "corrupt";
    case Code::kTimeout: return "timeout";
    case Code::kPeerDown: return "node down";
    case Code::kFull: return "full";
    case Code::kStale: return "stale";
    case Code::kBusy: return "busy";
    case Code::kInternal: return "internal error";
  }
  return "unknown";
}

Status errno_status(const std::string& call, const std::string& what, int err) {
  Code code = Code::kIoError;
  if (err == ENOENT) code = Code::kNotFound;
  if (err == ENOSPC || err == EDQUOT) code = Code::kFull;
  return {code, call + " " + what + ": " + std::strerror(err)};
}

}  // namespace cv
