#include "core/metrics/registry.hpp"

#include <algorithm>
#include <cassert>
#include <type_traits>
#include <variant>

#include "core/metrics/exposition.hpp"

namespace dsm::metrics {

namespace {

using LabelRefs = std::vector<std::pair<std::string_view, std::string_view>>;

// FNV-1a over the values, each followed by a 0xff separator (never in UTF-8),
// so ("ab","c") and ("a","bc") differ.
template <typename It>
std::uint64_t hash_values(It first, It last) {
    std::uint64_t h = 14695981039346656037ULL;
    for (; first != last; ++first) {
        for (const char c : std::string_view(*first)) {
            h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
        }
        h = (h ^ 0xffU) * 1099511628211ULL;
    }
    return h;
}

std::size_t table_size(std::size_t max_children) {
    // At most half full: probes stay short and always reach an empty slot.
    std::size_t n = 8;
    while (n < 2 * max_children) {
        n *= 2;
    }
    return n;
}

}  // namespace

std::string_view to_string(MetricType t) {
    switch (t) {
        case MetricType::counter:
            return "counter";
        case MetricType::gauge:
            return "gauge";
        case MetricType::histogram:
            return "histogram";
    }
    return "untyped";
}

// --- Histogram -------------------------------------------------------------

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {
    assert(std::is_sorted(bounds_.begin(), bounds_.end()));
}

void Histogram::observe(double v) noexcept {
    std::size_t i = 0;
    while (i < bounds_.size() && v > bounds_[i]) {  // le: upper bounds are inclusive
        ++i;
    }
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
    Snapshot s;
    s.bounds = bounds_;
    s.cumulative.resize(bounds_.size() + 1);
    std::uint64_t total = 0;
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
        total += counts_[i].load(std::memory_order_relaxed);
        s.cumulative[i] = total;
    }
    s.sum = sum_.load(std::memory_order_relaxed);
    return s;
}

// --- Family ----------------------------------------------------------------

template <typename T>
Family<T>::Family(std::vector<std::string> label_names, Make make, std::size_t max_children)
    : names_(std::move(label_names)),
      make_(std::move(make)),
      max_children_(std::max<std::size_t>(1, max_children)),
      mask_(table_size(max_children_) - 1),
      table_(std::make_unique<std::atomic<Node*>[]>(mask_ + 1)),
      overflow_(make_()) {}

template <typename T>
Family<T>::~Family() = default;

template <typename T>
T& Family<T>::with(std::initializer_list<std::string_view> values) {
    return find_or_add(values.begin(), values.end(), values.size());
}

template <typename T>
T& Family<T>::with(const std::vector<std::string_view>& values) {
    return find_or_add(values.begin(), values.end(), values.size());
}

template <typename T>
template <typename It>
T& Family<T>::find_or_add(It first, It last, std::size_t n) {
    assert(n == names_.size());
    const std::uint64_t h = hash_values(first, last);
    const auto same = [&](const Node* node) {
        return node->hash == h && node->values.size() == n &&
               std::equal(first, last, node->values.begin(),
                          [](std::string_view a, const std::string& b) { return a == b; });
    };
    // Lock-free: slots only ever go from null to a node that never changes.
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
        const Node* node = table_[i].load(std::memory_order_acquire);
        if (node == nullptr) {
            break;
        }
        if (same(node)) {
            return *node->child;
        }
    }
    const std::lock_guard lock(mu_);
    std::size_t i = h & mask_;
    for (;; i = (i + 1) & mask_) {
        const Node* node = table_[i].load(std::memory_order_relaxed);
        if (node == nullptr) {
            break;
        }
        if (same(node)) {
            return *node->child;  // another thread added it meanwhile
        }
    }
    if (nodes_.size() >= max_children_) {
        overflowed_.fetch_add(1, std::memory_order_relaxed);
        return *overflow_;
    }
    auto node = std::make_unique<Node>();
    node->hash = h;
    for (auto it = first; it != last; ++it) {
        node->values.emplace_back(*it);
    }
    node->child = make_();
    table_[i].store(node.get(), std::memory_order_release);
    nodes_.push_back(std::move(node));
    return *nodes_.back()->child;
}

template <typename T>
std::vector<std::pair<std::vector<std::string>, const T*>> Family<T>::children() const {
    std::vector<std::pair<std::vector<std::string>, const T*>> out;
    {
        const std::lock_guard lock(mu_);
        out.reserve(nodes_.size());
        for (const auto& node : nodes_) {
            out.emplace_back(node->values, node->child.get());
        }
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    return out;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// --- Registry --------------------------------------------------------------

struct Registry::Metric {
    struct Fn {
        Labels labels;
        std::function<double()> fn;
    };
    std::string name;
    std::string help;
    MetricType type = MetricType::counter;
    std::variant<std::monostate, std::unique_ptr<Counter>, std::unique_ptr<Gauge>,
                 std::unique_ptr<Histogram>, std::unique_ptr<Family<Counter>>,
                 std::unique_ptr<Family<Gauge>>, std::unique_ptr<Family<Histogram>>,
                 std::vector<Fn>>
        value;
};

Registry::Registry() = default;
Registry::~Registry() = default;

Registry::Metric& Registry::add(std::string name, std::string help, MetricType type) {
    const std::lock_guard lock(mu_);
    auto m = std::make_unique<Metric>();
    m->name = std::move(name);
    m->help = std::move(help);
    m->type = type;
    metrics_.push_back(std::move(m));
    return *metrics_.back();
}

Counter& Registry::counter(std::string name, std::string help) {
    auto c = std::make_unique<Counter>();
    Counter& ref = *c;
    add(std::move(name), std::move(help), MetricType::counter).value = std::move(c);
    return ref;
}

Gauge& Registry::gauge(std::string name, std::string help) {
    auto g = std::make_unique<Gauge>();
    Gauge& ref = *g;
    add(std::move(name), std::move(help), MetricType::gauge).value = std::move(g);
    return ref;
}

Histogram& Registry::histogram(std::string name, std::string help, std::vector<double> bounds) {
    auto h = std::make_unique<Histogram>(std::move(bounds));
    Histogram& ref = *h;
    add(std::move(name), std::move(help), MetricType::histogram).value = std::move(h);
    return ref;
}

Family<Counter>& Registry::counter_family(std::string name, std::string help,
                                          std::vector<std::string> label_names,
                                          std::size_t max_children) {
    auto f = std::make_unique<Family<Counter>>(
        std::move(label_names), [] { return std::make_unique<Counter>(); }, max_children);
    auto& ref = *f;
    add(std::move(name), std::move(help), MetricType::counter).value = std::move(f);
    return ref;
}

Family<Gauge>& Registry::gauge_family(std::string name, std::string help,
                                      std::vector<std::string> label_names,
                                      std::size_t max_children) {
    auto f = std::make_unique<Family<Gauge>>(
        std::move(label_names), [] { return std::make_unique<Gauge>(); }, max_children);
    auto& ref = *f;
    add(std::move(name), std::move(help), MetricType::gauge).value = std::move(f);
    return ref;
}

Family<Histogram>& Registry::histogram_family(std::string name, std::string help,
                                              std::vector<std::string> label_names,
                                              std::vector<double> bounds,
                                              std::size_t max_children) {
    auto f = std::make_unique<Family<Histogram>>(
        std::move(label_names), [bounds] { return std::make_unique<Histogram>(bounds); },
        max_children);
    auto& ref = *f;
    add(std::move(name), std::move(help), MetricType::histogram).value = std::move(f);
    return ref;
}

void Registry::counter_fn(std::string name, std::string help, Labels labels,
                          std::function<double()> fn) {
    {
        const std::lock_guard lock(mu_);
        for (auto& m : metrics_) {
            if (m->name == name) {
                assert(m->type == MetricType::counter);
                std::get<std::vector<Metric::Fn>>(m->value).push_back(
                    {std::move(labels), std::move(fn)});
                return;
            }
        }
    }
    add(std::move(name), std::move(help), MetricType::counter).value =
        std::vector<Metric::Fn>{{std::move(labels), std::move(fn)}};
}

void Registry::gauge_fn(std::string name, std::string help, Labels labels,
                        std::function<double()> fn) {
    {
        const std::lock_guard lock(mu_);
        for (auto& m : metrics_) {
            if (m->name == name) {
                assert(m->type == MetricType::gauge);
                std::get<std::vector<Metric::Fn>>(m->value).push_back(
                    {std::move(labels), std::move(fn)});
                return;
            }
        }
    }
    add(std::move(name), std::move(help), MetricType::gauge).value =
        std::vector<Metric::Fn>{{std::move(labels), std::move(fn)}};
}

namespace {

LabelRefs refs(const std::vector<std::string>& names, const std::vector<std::string>& values) {
    LabelRefs out;
    for (std::size_t i = 0; i < names.size() && i < values.size(); ++i) {
        out.emplace_back(names[i], values[i]);
    }
    return out;
}

void append_histogram(std::string& out, const std::string& name, LabelRefs labels,
                      const Histogram& h) {
    const auto s = h.snapshot();
    const std::string bucket = name + "_bucket";
    for (std::size_t i = 0; i <= s.bounds.size(); ++i) {
        const std::string le = i < s.bounds.size() ? format_value(s.bounds[i]) : "+Inf";
        LabelRefs with_le = labels;
        with_le.emplace_back("le", le);
        append_sample(out, bucket, with_le, static_cast<double>(s.cumulative[i]));
    }
    append_sample(out, name + "_sum", labels, s.sum);
    append_sample(out, name + "_count", labels, static_cast<double>(s.count()));
}

}  // namespace

std::string Registry::render() const {
    std::string out;
    const std::lock_guard lock(mu_);
    for (const auto& m : metrics_) {
        append_header(out, m->name, m->help, to_string(m->type));
        std::visit(
            [&](const auto& v) {
                using V = std::decay_t<decltype(v)>;
                if constexpr (std::is_same_v<V, std::unique_ptr<Counter>>) {
                    append_sample(out, m->name, {}, static_cast<double>(v->value()));
                } else if constexpr (std::is_same_v<V, std::unique_ptr<Gauge>>) {
                    append_sample(out, m->name, {}, v->value());
                } else if constexpr (std::is_same_v<V, std::unique_ptr<Histogram>>) {
                    append_histogram(out, m->name, {}, *v);
                } else if constexpr (std::is_same_v<V, std::unique_ptr<Family<Counter>>>) {
                    for (const auto& [values, c] : v->children()) {
                        append_sample(out, m->name, refs(v->label_names(), values),
                                      static_cast<double>(c->value()));
                    }
                } else if constexpr (std::is_same_v<V, std::unique_ptr<Family<Gauge>>>) {
                    for (const auto& [values, g] : v->children()) {
                        append_sample(out, m->name, refs(v->label_names(), values), g->value());
                    }
                } else if constexpr (std::is_same_v<V, std::unique_ptr<Family<Histogram>>>) {
                    for (const auto& [values, h] : v->children()) {
                        append_histogram(out, m->name, refs(v->label_names(), values), *h);
                    }
                } else if constexpr (std::is_same_v<V, std::vector<Metric::Fn>>) {
                    for (const auto& f : v) {
                        LabelRefs labels;
                        for (const auto& [k, val] : f.labels) {
                            labels.emplace_back(k, val);
                        }
                        append_sample(out, m->name, labels, f.fn());
                    }
                }
            },
            m->value);
    }
    return out;
}

}  // namespace dsm::metrics
