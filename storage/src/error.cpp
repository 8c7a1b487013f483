#include <cerrno>
#include <cstring>

#include "keel/storage/error.h"

namespace keel::storage {

std::string_view errc_name(Errc code) {
  switch (code) {
    case Errc::corrupt_message:
      return "corrupt_message";
    case Errc::offset_out_of_range:
      return "offset_out_of_range";
    case Errc::message_too_large:
      return "message_too_large";
    case Errc::invalid_record:
      return "invalid_record";
    case Errc::unsupported_version:
      return "unsupported_version";
    case Errc::unsupported_compression:
      return "unsupported_compression";
    case Errc::decompression_limit:
      return "decompression_limit";
    case Errc::invalid_timestamp:
      return "invalid_timestamp";
    case Errc::out_of_order_sequence:
      return "out_of_order_sequence";
    case Errc::invalid_producer_epoch:
      return "invalid_producer_epoch";
    case Errc::io_error:
      return "io_error";
    case Errc::closed:
      return "closed";
  }
  return "unknown";
}

keel::Fail<StorageError> fail_errno(std::string_view what) {
  int err = errno;
  return fail(Errc::io_error, std::string(what) + ": " + std::strerror(err));
}

}  // namespace keel::storage
