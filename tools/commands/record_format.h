#pragma once
// `keel consume --format`: a kcat-like template applied to every record, e.g.
// '%k %v %o %p %t %h' (key, value, offset, partition, timestamp, headers; %T the topic,
// %% a percent sign; \n \t \\ escapes). One line per record: a newline is added.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <keel/result.h>
#include <keel/storage/record_batch.h>

namespace keel::cli {

/// What a format can print of one record (views valid while it is formatted).
struct FormattedRecord {
  std::string_view topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::int64_t timestamp = 0;
  std::optional<storage::Bytes> key;
  std::optional<storage::Bytes> value;
  std::span<const storage::RecordHeader> headers;
};

class RecordFormat {
 public:
  /// Fails naming the directive for an unknown %x or a trailing %.
  static Result<RecordFormat> parse(std::string_view spec);

  /// Appends the formatted record and a newline to `out`. Null keys and values print as
  /// nothing; headers as k=v joined by commas.
  void append(std::string& out, const FormattedRecord& record) const;

 private:
  enum class Field : char {
    literal,
    key = 'k',
    value = 'v',
    offset = 'o',
    partition = 'p',
    timestamp = 't',
    headers = 'h',
    topic = 'T'
  };
  struct Piece {
    Field field = Field::literal;
    std::string text;  // for literals
  };
  std::vector<Piece> _pieces;
};

}  // namespace keel::cli
