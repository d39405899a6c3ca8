// A small Prometheus metrics registry (SPEC §8 "[metrics] listen"): counters,
// gauges, histograms, families of them by label values, and metrics read by a
// callback at scrape time; render() writes the text exposition format 0.0.4
// (see exposition.hpp).
//
// Why it is safe on the RCPT hit path: recording never takes a process-wide
// lock and never does I/O.
//   - Counter, Gauge and Histogram hold std::atomic values; inc()/set()/
//     observe() are relaxed atomic operations (a histogram bucket is chosen by
//     a walk over its handful of fixed bounds).
//   - A Family finds the child of a set of label values in an open-addressing
//     table of atomic pointers, read lock-free (acquire loads). A child is
//     created only the first time its label values are seen, under the
//     family's own mutex, and published with a release store; children are
//     never removed (Prometheus counters must not go back), so a pointer
//     once read stays valid for the family's lifetime. Callers may also keep
//     the reference that with() returns. Each family holds at most
//     `max_children` series (a bound on cardinality: connector names come
//     from the configuration); label values past that are recorded into one
//     hidden overflow child and counted by overflowed().
//   - Callback metrics (counter_fn/gauge_fn) read what other parts already
//     count (e.g. VerdictCache::stats(), atomics) only when scraped.
// render() takes the registry's and each family's mutex: only scrapes and the
// first use of new label values contend there.
//
// Registration (the counter()/gauge()/... calls) happens at start-up; the
// returned references live as long as the registry. Names and label names
// must follow Prometheus rules ([a-zA-Z_:][a-zA-Z0-9_:]*); they are
// programmer-chosen and checked with assert only.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dsm::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
  public:
    void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
    [[nodiscard]] std::uint64_t value() const noexcept {
        return value_.load(std::memory_order_relaxed);
    }

  private:
    std::atomic<std::uint64_t> value_{0};
};

class Gauge {
  public:
    void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
    void add(double d) noexcept { value_.fetch_add(d, std::memory_order_relaxed); }
    [[nodiscard]] double value() const noexcept { return value_.load(std::memory_order_relaxed); }

  private:
    std::atomic<double> value_{0.0};
};

class Histogram {
  public:
    // `bounds`: the finite upper bounds, strictly increasing; +Inf is implied.
    explicit Histogram(std::vector<double> bounds);
    void observe(double v) noexcept;

    struct Snapshot {
        std::vector<double> bounds;             // finite bounds
        std::vector<std::uint64_t> cumulative;  // per bound, then +Inf (size bounds+1)
        double sum = 0.0;
        [[nodiscard]] std::uint64_t count() const { return cumulative.back(); }
    };
    [[nodiscard]] Snapshot snapshot() const;

  private:
    std::vector<double> bounds_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // bounds_.size() + 1, not cumulative
    std::atomic<double> sum_{0.0};
};

// Children of one metric by label values (see the header comment).
template <typename T>
class Family {
  public:
    using Make = std::function<std::unique_ptr<T>()>;

    Family(std::vector<std::string> label_names, Make make, std::size_t max_children);
    ~Family();
    Family(const Family&) = delete;
    Family& operator=(const Family&) = delete;

    // The child for `values` (one per label name, in order); lock-free once
    // it exists.
    T& with(std::initializer_list<std::string_view> values);
    T& with(const std::vector<std::string_view>& values);

    [[nodiscard]] const std::vector<std::string>& label_names() const { return names_; }
    // Label values and child, sorted by label values.
    [[nodiscard]] std::vector<std::pair<std::vector<std::string>, const T*>> children() const;
    // Recordings sent to the overflow child because max_children was reached.
    [[nodiscard]] std::uint64_t overflowed() const {
        return overflowed_.load(std::memory_order_relaxed);
    }

  private:
    struct Node {
        std::uint64_t hash;
        std::vector<std::string> values;
        std::unique_ptr<T> child;
    };
    template <typename It>
    T& find_or_add(It first, It last, std::size_t n);

    std::vector<std::string> names_;
    Make make_;
    std::size_t max_children_;
    std::size_t mask_;                             // table size - 1 (a power of two)
    std::unique_ptr<std::atomic<Node*>[]> table_;  // read lock-free
    mutable std::mutex mu_;                        // guards nodes_ and inserts
    std::vector<std::unique_ptr<Node>> nodes_;     // owners
    std::unique_ptr<T> overflow_;
    std::atomic<std::uint64_t> overflowed_{0};
};

enum class MetricType { counter, gauge, histogram };
std::string_view to_string(MetricType t);

class Registry {
  public:
    Registry();
    ~Registry();
    Registry(const Registry&) = delete;
    Registry& operator=(const Registry&) = delete;

    static constexpr std::size_t kDefaultMaxChildren = 512;

    Counter& counter(std::string name, std::string help);
    Gauge& gauge(std::string name, std::string help);
    Histogram& histogram(std::string name, std::string help, std::vector<double> bounds);
    Family<Counter>& counter_family(std::string name, std::string help,
                                    std::vector<std::string> label_names,
                                    std::size_t max_children = kDefaultMaxChildren);
    Family<Gauge>& gauge_family(std::string name, std::string help,
                                std::vector<std::string> label_names,
                                std::size_t max_children = kDefaultMaxChildren);
    Family<Histogram>& histogram_family(std::string name, std::string help,
                                        std::vector<std::string> label_names,
                                        std::vector<double> bounds,
                                        std::size_t max_children = kDefaultMaxChildren);

    // Metrics read at scrape time. `fn` is called from the scraping thread
    // and must be thread-safe; `labels` are constant. Several series of one
    // name (different constant labels) share one HELP/TYPE block.
    void counter_fn(std::string name, std::string help, Labels labels, std::function<double()> fn);
    void gauge_fn(std::string name, std::string help, Labels labels, std::function<double()> fn);

    // The text exposition format 0.0.4, metrics in registration order.
    [[nodiscard]] std::string render() const;

  private:
    struct Metric;
    Metric& add(std::string name, std::string help, MetricType type);

    mutable std::mutex mu_;
    std::vector<std::unique_ptr<Metric>> metrics_;
};

}  // namespace dsm::metrics
