#pragma once
// Result<T, E>: a value or an error, for the paths where exceptions are not used
// (everything that handles requests or data; exceptions are for start-up only).

#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace keel {

/// The default error: a human-readable message naming what failed and where.
struct Error {
  std::string message;
  bool operator==(const Error&) const = default;
};

/// Wraps an error so it converts into any Result<T, E> (`return Fail{Error{"..."}}`).
template <class E>
struct Fail {
  E error;
};
template <class E>
Fail(E) -> Fail<E>;

template <class T, class E = Error>
class [[nodiscard]] Result {
 public:
  Result(T value) : _v(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  template <class F>
  Result(Fail<F> f) : _v(std::in_place_index<1>, E(std::move(f.error))) {}  // NOLINT

  bool ok() const { return _v.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(_v); }
  const T& value() const& { return std::get<0>(_v); }
  T&& value() && { return std::get<0>(std::move(_v)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const E& error() const& { return std::get<1>(_v); }
  E&& error() && { return std::get<1>(std::move(_v)); }

 private:
  std::variant<T, E> _v;
};

/// Result<void>: success, or an error.
template <class E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  template <class F>
  Result(Fail<F> f) : _error(E(std::move(f.error))), _ok(false) {}  // NOLINT

  bool ok() const { return _ok; }
  explicit operator bool() const { return _ok; }
  const E& error() const& { return _error; }
  E&& error() && { return std::move(_error); }

 private:
  E _error{};
  bool _ok = true;
};

using Status = Result<void>;

}  // namespace keel

/// Propagates the error of an expression yielding a Result; evaluates to nothing.
#define KEEL_TRY(expr)                                     \
  do {                                                     \
    if (auto _keel_r = (expr); !_keel_r.ok()) [[unlikely]] \
      return ::keel::Fail{std::move(_keel_r).error()};     \
  } while (0)
