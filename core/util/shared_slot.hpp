// One shared_ptr that one thread replaces while others read it (the
// configuration in force: a SIGHUP reload stores, every milter callback
// loads). A reader keeps the snapshot it loaded for as long as it needs it.
//
// A mutex, not std::atomic<std::shared_ptr>: GCC 12's libstdc++ implements
// the latter with a lock bit that load() releases with a relaxed store, so
// nothing orders a load's read of the pointer before the next store()
// (ThreadSanitizer reports it; on weakly ordered CPUs it is a real race).
// An uncontended lock costs what that lock bit does; the old value is
// released outside the lock, so a reader never waits on a destructor.
#pragma once

#include <memory>
#include <mutex>
#include <utility>

namespace dsm::util {

template <typename T>
class SharedSlot {
  public:
    SharedSlot() = default;
    explicit SharedSlot(std::shared_ptr<T> value) : value_(std::move(value)) {}
    SharedSlot(const SharedSlot&) = delete;
    SharedSlot& operator=(const SharedSlot&) = delete;

    [[nodiscard]] std::shared_ptr<T> load() const {
        const std::lock_guard lock(mu_);
        return value_;
    }

    void store(std::shared_ptr<T> value) {
        {
            const std::lock_guard lock(mu_);
            std::swap(value_, value);
        }
        // `value` now holds the old one, released here, unlocked.
    }

  private:
    mutable std::mutex mu_;
    std::shared_ptr<T> value_;
};

}  // namespace dsm::util
