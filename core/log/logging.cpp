#include "core/log/logging.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <syslog.h>

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
                "dane-sts-milter",
                std::make_shared<spdlog::sinks::basic_file_sink_mt>(t.substr(5)));
            logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l dane-sts-milter[%P]: %v");
            logger->flush_on(spdlog::level::trace);
        } else {
            return Error{"log_target: expected stderr, syslog or file:/path, got \"" + t + "\""};
        }
    } catch (const spdlog::spdlog_ex& ex) {
        return Error{"log_target " + settings.log_target + ": " + ex.what()};
    }
    logger->set_level(to_spdlog(settings.log_level));
    spdlog::set_default_logger(logger);
    return true;
}

}  // namespace dsm::log
