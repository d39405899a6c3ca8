#include "core/log/logging.hpp"

#include <fmt/format.h>
#include <spdlog/details/os.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <syslog.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

namespace dsm::log {

namespace {
spdlog::level::level_enum to_spdlog(config::LogLevel l) {
    switch (l) {
        case config::LogLevel::trace:
            return spdlog::level::trace;
        case config::LogLevel::debug:
            return spdlog::level::debug;
        case config::LogLevel::info:
            return spdlog::level::info;
        case config::LogLevel::warn:
            return spdlog::level::warn;
        case config::LogLevel::error:
            return spdlog::level::err;
    }
    return spdlog::level::info;
}

// One syslog sink for the process: a sink calls openlog() when built and
// closelog() when destroyed, and glibc's closelog() forgets the ident, so
// replacing the sink on reload would log the next lines without
// "dane-sts-milter". Facility mail (LOG_MAIL), like the MTA's own lines.
std::shared_ptr<spdlog::sinks::syslog_sink_mt> syslog_sink() {
    static const auto sink = std::make_shared<spdlog::sinks::syslog_sink_mt>(
        "dane-sts-milter", LOG_PID, LOG_MAIL, false);
    return sink;
}

// `file:PATH` that survives its file going bad while the daemon runs (SPEC §3:
// nothing may crash or stop the daemon; a log line is never worth a mail):
//   - a write that fails (disk full, I/O error) loses that line, never
//     throws into the caller; the failure is said once on stderr (the
//     journal under systemd), key=value, and the file is reopened for the
//     next line; the first line that lands again is preceded by one saying
//     how many were lost;
//   - the file removed or replaced (by hand, or a rotation without SIGHUP):
//     noticed within a second (stat() of PATH against the open file) and
//     PATH opened again, its directory created if it went too; until then
//     lines go to the old file. spdlog's basic_file_sink would go on
//     writing to the unlinked file for good.
class ResilientFileSink final : public spdlog::sinks::base_sink<std::mutex> {
  public:
    // Throws spdlog_ex when PATH cannot be opened now: a configuration
    // error at start or reload, as before.
    explicit ResilientFileSink(std::string path) : path_(std::move(path)) {
        std::string why;
        if (!open(why)) {
            throw spdlog::spdlog_ex("cannot open " + path_ + ": " + why);
        }
    }
    ~ResilientFileSink() override {
        if (file_ != nullptr) {
            std::fclose(file_);
        }
    }
    ResilientFileSink(const ResilientFileSink&) = delete;
    ResilientFileSink& operator=(const ResilientFileSink&) = delete;

  protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        spdlog::memory_buf_t line;
        formatter_->format(msg, line);
        const auto now = std::chrono::steady_clock::now();
        if (now >= next_check_) {
            next_check_ = now + std::chrono::seconds(1);
            check_file(msg);
        }
        if (file_ == nullptr) {
            ++lost_;
            return;
        }
        if (lost_ > 0) {
            if (!note(msg, spdlog::level::warn,
                      fmt::format("log_target=file:{} log_state=recovered lost_lines={}", path_,
                                  lost_))) {
                ++lost_;
                return;
            }
            lost_ = 0;
        }
        if (!write(line)) {
            ++lost_;
        }
    }

    void flush_() override {
        if (file_ != nullptr) {
            std::fflush(file_);
        }
    }

  private:
    bool open(std::string& why) {
        // Like spdlog's file sinks: the directory is created when missing.
        const std::string dir = spdlog::details::os::dir_name(path_);
        if (!dir.empty() && !spdlog::details::os::create_dir(dir)) {
            why = "cannot create " + dir + ": " + std::strerror(errno);
            return false;
        }
        std::FILE* f = std::fopen(path_.c_str(), "ae");
        if (f == nullptr) {
            why = std::strerror(errno);
            return false;
        }
        if (file_ != nullptr) {
            std::fclose(file_);
        }
        file_ = f;
        struct stat st {};
        if (::fstat(fileno(file_), &st) == 0) {
            dev_ = st.st_dev;
            ino_ = st.st_ino;
        }
        return true;
    }

    // Reopens PATH when the open file is no longer the one there.
    void check_file(const spdlog::details::log_msg& like) {
        struct stat st {};
        const char* reason = nullptr;
        if (file_ == nullptr) {
            reason = "the file could not be opened";
        } else if (::stat(path_.c_str(), &st) != 0) {
            reason = "the file was removed";
        } else if (st.st_dev != dev_ || st.st_ino != ino_) {
            reason = "the file was replaced";
        }
        if (reason == nullptr) {
            return;
        }
        std::string why;
        if (open(why)) {
            note(like, spdlog::level::warn,
                 fmt::format("log_target=file:{} log_state=reopened reason=\"{}\"", path_, reason));
        } else {
            failed(why);
            if (file_ != nullptr) {
                std::fclose(file_);
                file_ = nullptr;
            }
        }
    }

    // A line of our own, formatted like `like`'s.
    bool note(const spdlog::details::log_msg& like, spdlog::level::level_enum level,
              const std::string& text) {
        const spdlog::details::log_msg m(like.time, like.source, like.logger_name, level, text);
        spdlog::memory_buf_t buf;
        formatter_->format(m, buf);
        return file_ != nullptr && write(buf);
    }

    // Writes and flushes one formatted line; on failure says so (once per
    // failing spell) and reopens the file, so that a stdio stream in error
    // does not hold half a line for the next one.
    bool write(const spdlog::memory_buf_t& line) {
        if (std::fwrite(line.data(), 1, line.size(), file_) == line.size() &&
            std::fflush(file_) == 0) {
            failing_ = false;
            return true;
        }
        failed(std::strerror(errno));
        std::string why;
        if (!open(why)) {
            std::fclose(file_);
            file_ = nullptr;
        }
        return false;
    }

    void failed(const std::string& why) {
        if (failing_) {
            return;
        }
        failing_ = true;
        // stderr: the journal under systemd; never the failing file.
        std::fprintf(stderr,
                     "log_target=file:%s log_state=failed error=\"%s\": log lines are lost until "
                     "it works again; mail is not affected\n",
                     path_.c_str(), why.c_str());
        std::fflush(stderr);
    }

    const std::string path_;
    std::FILE* file_ = nullptr;
    dev_t dev_ = 0;
    ino_t ino_ = 0;
    bool failing_ = false;
    std::uint64_t lost_ = 0;
    std::chrono::steady_clock::time_point next_check_ =
        std::chrono::steady_clock::now() + std::chrono::seconds(1);
};
}  // namespace

Result<bool> setup_logging(const config::MilterSettings& settings) {
    std::shared_ptr<spdlog::logger> logger;
    try {
        const std::string& t = settings.log_target;
        if (t == "stderr") {
            logger = std::make_shared<spdlog::logger>(
                "dane-sts-milter", std::make_shared<spdlog::sinks::stderr_sink_mt>());
            logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l dane-sts-milter[%P]: %v");
        } else if (t == "syslog") {
            // syslog adds its own time stamp, host and pid.
            logger = std::make_shared<spdlog::logger>("dane-sts-milter", syslog_sink());
            logger->set_pattern("%v");
        } else if (t.rfind("file:", 0) == 0) {
            // A new sink opens the path again (appending): after logrotate
            // renamed the file, SIGHUP makes the next lines go to a new one.
            logger = std::make_shared<spdlog::logger>(
                "dane-sts-milter", std::make_shared<ResilientFileSink>(t.substr(5)));
            logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l dane-sts-milter[%P]: %v");
            logger->flush_on(spdlog::level::trace);
        } else {
            return Error{"log_target: expected stderr, syslog or file:/path, got \"" + t + "\""};
        }
    } catch (const spdlog::spdlog_ex& ex) {
        return Error{"log_target " + settings.log_target + ": " + ex.what()};
    }
    // spdlog::info() and friends read the default logger without a lock
    // (default_logger_raw()): replacing it on reload (SIGHUP) while other
    // threads log was a data race, and freed the old logger under them
    // (ThreadSanitizer). So the default logger is set once, at the first
    // call (before any thread starts); later calls swap the sinks behind it
    // under the dist_sink's mutex, the one every line is written under.
    static const auto dist = std::make_shared<spdlog::sinks::dist_sink_mt>();
    static const auto process_logger = [] {
        auto l = std::make_shared<spdlog::logger>("dane-sts-milter", dist);
        spdlog::set_default_logger(l);
        return l;
    }();
    dist->set_sinks(logger->sinks());  // formatted as set above
    process_logger->flush_on(logger->flush_level());
    process_logger->set_level(to_spdlog(settings.log_level));
    return true;
}

}  // namespace dsm::log
