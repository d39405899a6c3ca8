// An injectable clock (STYLE §10): tests age cache entries without sleeping.
#pragma once

#include <atomic>
#include <chrono>

namespace dsm::util {

class Clock {
  public:
    using time_point = std::chrono::steady_clock::time_point;
    using duration = std::chrono::steady_clock::duration;
    virtual ~Clock() = default;
    [[nodiscard]] virtual time_point now() const = 0;
    [[nodiscard]] virtual std::chrono::system_clock::time_point wall() const = 0;
};

class SystemClock final : public Clock {
  public:
    [[nodiscard]] time_point now() const override { return std::chrono::steady_clock::now(); }
    [[nodiscard]] std::chrono::system_clock::time_point wall() const override {
        return std::chrono::system_clock::now();
    }
};

// A clock that only moves when told to. Thread-safe.
class ManualClock final : public Clock {
  public:
    [[nodiscard]] time_point now() const override {
        return time_point(std::chrono::nanoseconds(ns_.load()));
    }
    [[nodiscard]] std::chrono::system_clock::time_point wall() const override {
        return std::chrono::system_clock::time_point(
            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                std::chrono::nanoseconds(ns_.load())));
    }
    void advance(std::chrono::nanoseconds d) { ns_ += d.count(); }

  private:
    std::atomic<std::int64_t> ns_{1'800'000'000'000'000'000};  // 2027-01-15, any fixed point
};

}  // namespace dsm::util
