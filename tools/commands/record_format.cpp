#include "record_format.h"

namespace keel::cli {
namespace {

constexpr std::string_view kFields = "kvopthT";

char unescape(char c) {
  switch (c) {
    case 'n':
      return '\n';
    case 't':
      return '\t';
    case 'r':
      return '\r';
    case '0':
      return '\0';
    default:
      return c;  // \\ and anything else: the character itself
  }
}

void append_bytes(std::string& out, const std::optional<storage::Bytes>& bytes) {
  if (bytes) out.append(reinterpret_cast<const char*>(bytes->data()), bytes->size());
}

}  // namespace

Result<RecordFormat> RecordFormat::parse(std::string_view spec) {
  RecordFormat format;
  std::string literal;
  auto flush_literal = [&] {
    if (!literal.empty()) format._pieces.push_back({Field::literal, std::move(literal)});
    literal.clear();
  };
  for (std::size_t i = 0; i < spec.size(); ++i) {
    const char c = spec[i];
    if ((c != '%' && c != '\\') || i + 1 == spec.size()) {
      if (c == '%') return Fail{Error{"--format ends with a lone '%'"}};
      literal += c;
      continue;
    }
    const char next = spec[++i];
    if (c == '\\') {
      literal += unescape(next);
    } else if (next == '%') {
      literal += '%';
    } else if (kFields.find(next) != std::string_view::npos) {
      flush_literal();
      format._pieces.push_back({static_cast<Field>(next), {}});
    } else {
      return Fail{Error{std::string("--format: unknown directive '%") + next +
                        "' (known: %k %v %o %p %t %h %T %%)"}};
    }
  }
  flush_literal();
  return format;
}

void RecordFormat::append(std::string& out, const FormattedRecord& record) const {
  for (const auto& piece : _pieces) {
    switch (piece.field) {
      case Field::literal:
        out += piece.text;
        break;
      case Field::key:
        append_bytes(out, record.key);
        break;
      case Field::value:
        append_bytes(out, record.value);
        break;
      case Field::offset:
        out += std::to_string(record.offset);
        break;
      case Field::partition:
        out += std::to_string(record.partition);
        break;
      case Field::timestamp:
        out += std::to_string(record.timestamp);
        break;
      case Field::topic:
        out += record.topic;
        break;
      case Field::headers:
        for (std::size_t h = 0; h < record.headers.size(); ++h) {
          if (h > 0) out += ',';
          out += record.headers[h].key;
          out += '=';
          append_bytes(out, record.headers[h].value);
        }
        break;
    }
  }
  out += '\n';
}

}  // namespace keel::cli
