#pragma once
// A `keel serve` child process for the C++ integration tests and the whole-broker benchmarks:
// fork/exec of the binary on an ephemeral port with a fresh data directory, the port read
// from its "keel: listening on" line. stderr, and stdout after that line, go to
// <dir>/keel.log (log_tail() shows the end). The child dies with its parent (a ctest
// timeout), and KEEL_KEEP_DATA=1 keeps the directory. Header-only test support.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace keel_testing {

class KeelProcess {
  using Clock = std::chrono::steady_clock;

 public:
  KeelProcess() = default;
  KeelProcess(const KeelProcess&) = delete;
  KeelProcess& operator=(const KeelProcess&) = delete;
  ~KeelProcess() {
    kill();
    if (!_dir.empty() && std::getenv("KEEL_KEEP_DATA") == nullptr) {
      std::error_code ec;
      std::filesystem::remove_all(_dir, ec);
    }
  }

  /// Starts the broker with `-o key=value` overrides and waits for its listening line.
  /// Returns an error text, or an empty string once it listens. `forked`, when given, is set
  /// to the time just before fork() (for exec-to-first-produce figures).
  std::string start(const std::string& binary, const std::vector<std::string>& overrides = {},
                    Clock::time_point* forked = nullptr) {
    std::string templ = (std::filesystem::temp_directory_path() / "keel-process-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) return "mkdtemp: " + std::string(strerror(errno));
    _dir = templ;
    std::filesystem::create_directories(data_dir());
    const std::string log = (_dir / "keel.log").string();
    _log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int fds[2];
    if (_log_fd < 0 || ::pipe2(fds, O_CLOEXEC) != 0)
      return "log/pipe: " + std::string(strerror(errno));
    std::vector<std::string> args{binary,        "serve",
                                  "--listeners", "PLAINTEXT://127.0.0.1:0",
                                  "--log-dirs",  data_dir().string()};
    for (const auto& kv : overrides) args.insert(args.end(), {"-o", kv});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (forked != nullptr) *forked = Clock::now();
    _pid = ::fork();
    if (_pid < 0) return "fork: " + std::string(strerror(errno));
    if (_pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test or benchmark
      ::dup2(fds[1], STDOUT_FILENO);
      ::dup2(_log_fd, STDERR_FILENO);
      ::execv(binary.c_str(), argv.data());
      std::fprintf(stderr, "exec %s: %s\n", binary.c_str(), strerror(errno));
      ::_exit(127);
    }
    ::close(fds[1]);
    _out = fds[0];
    return read_listening_line();
  }

  /// SIGTERM, then waits (SIGKILL after 20 s); returns "exit 0" on a clean stop.
  std::string stop() {
    if (_pid <= 0) return "not running";
    ::kill(_pid, SIGTERM);
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    int status = 0;
    while (::waitpid(_pid, &status, WNOHANG) == 0) {
      if (Clock::now() > deadline) {
        kill();
        return "did not exit within 20 s of SIGTERM (killed)";
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    _pid = -1;
    join_drain();
    if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
    return "status " + std::to_string(status);
  }

  /// SIGKILL now (clients blocked on a response see their connection close).
  void kill() {
    if (_pid > 0) {
      ::kill(_pid, SIGKILL);
      int status = 0;
      ::waitpid(_pid, &status, 0);
      _pid = -1;
    }
    join_drain();
  }

  bool alive() const {
    int status = 0;
    return _pid > 0 && ::waitpid(_pid, &status, WNOHANG) == 0;
  }
  pid_t pid() const { return _pid; }
  const std::string& bootstrap() const { return _bootstrap; }
  std::filesystem::path data_dir() const { return _dir / "data"; }

  std::string log_tail(std::size_t bytes = 2000) const {
    std::ifstream in(_dir / "keel.log");
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string s = ss.str();
    return s.size() > bytes ? s.substr(s.size() - bytes) : s;
  }

 private:
  std::string read_listening_line() {
    const std::string marker = "keel: listening on PLAINTEXT://";
    std::string buffer;
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (true) {
      const auto at = buffer.find(marker);
      const auto end = at == std::string::npos ? at : buffer.find('\n', at);
      if (end != std::string::npos) {
        _bootstrap = buffer.substr(at + marker.size(), end - at - marker.size());
        if (::write(_log_fd, buffer.data(), buffer.size()) < 0) { /* best effort */
        }
        // The broker keeps printing to stdout: keep the pipe drained into the log.
        _drain = std::thread([out = _out, log = _log_fd] {
          char chunk[4096];
          ssize_t n = 0;
          while ((n = ::read(out, chunk, sizeof chunk)) > 0)
            if (::write(log, chunk, static_cast<std::size_t>(n)) < 0) break;
        });
        return {};
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return "no listening line within 20 s; stdout: " + buffer;
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
               "); stdout: " + buffer + "; log: " + log_tail();
      }
      buffer.append(chunk, static_cast<std::size_t>(n));
    }
  }

  void join_drain() {
    if (_drain.joinable()) _drain.join();
    if (_out >= 0) ::close(_out);
    if (_log_fd >= 0) ::close(_log_fd);
    _out = _log_fd = -1;
  }

  pid_t _pid = -1;
  int _out = -1;
  int _log_fd = -1;
  std::filesystem::path _dir;
  std::string _bootstrap;
  std::thread _drain;
};

}  // namespace keel_testing
