#pragma once
// A `keel serve` child process for the librdkafka integration tests: fork/exec of the binary
// on an ephemeral port with its own data directory, the port read from its "listening on"
// line. Test support only (header-only, shared by rdkafka_test.cpp and rdkafka_group_test.cpp).

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace keel_test {

/// A `keel serve` child process on an ephemeral port with its own data directory.
class KeelProcess {
  using Clock = std::chrono::steady_clock;

 public:
  KeelProcess() = default;
  KeelProcess(const KeelProcess&) = delete;
  KeelProcess& operator=(const KeelProcess&) = delete;
  ~KeelProcess() {
    if (_pid > 0) {
      ::kill(_pid, SIGKILL);
      int status = 0;
      ::waitpid(_pid, &status, 0);
    }
    join_drain();
    if (!_dir.empty() && std::getenv("KEEL_KEEP_DATA") == nullptr) {
      std::error_code ec;
      std::filesystem::remove_all(_dir, ec);
    }
  }

  /// Starts the broker with `-o key=value` overrides; returns an error text, or an empty
  /// string when it is listening.
  std::string start(const std::string& binary, const std::vector<std::string>& overrides = {}) {
    std::string templ = (std::filesystem::temp_directory_path() / "keel-rdkafka-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) return "mkdtemp: " + std::string(strerror(errno));
    _dir = templ;
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return "pipe: " + std::string(strerror(errno));
    std::vector<std::string> args{binary,       "serve", "--listeners", "PLAINTEXT://127.0.0.1:0",
                                  "--log-dirs", _dir};
    for (const auto& o : overrides) {
      args.push_back("-o");
      args.push_back(o);
    }
    _pid = ::fork();
    if (_pid < 0) return "fork: " + std::string(strerror(errno));
    if (_pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test (e.g. a ctest timeout)
      ::dup2(fds[1], STDOUT_FILENO);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(binary.c_str(), argv.data());
      std::fprintf(stderr, "exec %s: %s\n", binary.c_str(), strerror(errno));
      ::_exit(127);
    }
    ::close(fds[1]);
    _out = fds[0];
    const std::regex listening(R"(keel: listening on PLAINTEXT://([0-9.]+):([0-9]+))");
    std::string buffer;
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (true) {
      auto newline = buffer.find('\n');
      while (newline != std::string::npos) {
        const std::string line = buffer.substr(0, newline);
        buffer.erase(0, newline + 1);
        std::smatch m;
        if (std::regex_search(line, m, listening)) {
          _bootstrap = m[1].str() + ":" + m[2].str();
          start_drain();
          return {};
        }
        newline = buffer.find('\n');
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left <= std::chrono::milliseconds(0))
        return "no listening line within 20 s; stdout so far: " + buffer;
      pollfd pfd{_out, POLLIN, 0};
      const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno != EINTR) return "poll: " + std::string(strerror(errno));
      if (ready <= 0) continue;
      char chunk[4096];
      const ssize_t n = ::read(_out, chunk, sizeof chunk);
      if (n <= 0) {
        int status = 0;
        ::waitpid(_pid, &status, 0);
        _pid = -1;
        return "keel exited before listening (status " + std::to_string(status) +
               "); stdout: " + buffer;
      }
      buffer.append(chunk, static_cast<std::size_t>(n));
    }
  }

  /// SIGTERM; returns the exit status text ("exit 0" on a clean stop).
  std::string stop() {
    if (_pid <= 0) return "not running";
    ::kill(_pid, SIGTERM);
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    int status = 0;
    while (::waitpid(_pid, &status, WNOHANG) == 0) {
      if (Clock::now() > deadline) {
        ::kill(_pid, SIGKILL);
        ::waitpid(_pid, &status, 0);
        _pid = -1;
        return "did not exit within 20 s of SIGTERM";
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    _pid = -1;
    join_drain();
    if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
    return "status " + std::to_string(status);
  }

  bool alive() const { return _pid > 0 && ::kill(_pid, 0) == 0 && !exited(); }
  const std::string& bootstrap() const { return _bootstrap; }

 private:
  bool exited() const {
    int status = 0;
    return ::waitpid(_pid, &status, WNOHANG) == _pid;
  }

  // The broker keeps logging to stdout: keep the pipe drained (and echo it, for ctest logs).
  void start_drain() {
    _drain = std::thread([fd = _out] {
      char chunk[4096];
      ssize_t n = 0;
      while ((n = ::read(fd, chunk, sizeof chunk)) > 0) {
        if (::write(STDERR_FILENO, chunk, static_cast<std::size_t>(n)) < 0) break;
      }
    });
  }
  void join_drain() {
    if (_drain.joinable()) _drain.join();
    if (_out >= 0) ::close(_out);
    _out = -1;
  }

  pid_t _pid = -1;
  int _out = -1;
  std::string _dir;
  std::string _bootstrap;
  std::thread _drain;
};

}  // namespace keel_test
