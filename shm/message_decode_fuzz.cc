// libFuzzer target for the block's message decoding: any bytes, taken as a
// message payload of each type or as frames in a mailbox ring, must be
// refused or read without a crash, a hang, a read past the input or an
// unbounded allocation.
#include <cstddef>
#include <cstdint>
#include <string_view>

// cv_shm is built without coverage instrumentation: compiling the decoders
// into this target instruments them (the linker then takes none of these
// objects from libcv_shm.a, so nothing is defined twice).
#include "shm/mailbox.cc"         // NOLINT(bugprone-suspicious-include)
#include "shm/message_decode.cc"  // NOLINT(bugprone-suspicious-include)
#include "shm/messages.cc"        // NOLINT(bugprone-suspicious-include)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cv::shm::decode_everything(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
