// Decoding everything a mailbox hands over, the way its consumers do: the
// frame check of Mailbox::drain, check_message and BatchReader. Shared by
// the libFuzzer target (message_decode_fuzz.cc) and the GoogleTest that runs
// it over random and corrupted inputs in ./run test.
#pragma once

#include <cstdint>
#include <string_view>

namespace cv::shm {

// Runs `bytes` through every decoder of the block's messages: as the
// payload of each message type (checked, then read as records and as
// results), and as raw frames published into a mailbox ring that is then
// drained. Returns how many messages were accepted. Calls
// __builtin_trap() if a decoder breaks its promise (more entries than the
// count, a view outside the payload, a drain that does not empty the ring).
uint64_t decode_everything(std::string_view bytes);

}  // namespace cv::shm
