#include "core/metrics/metrics_server.hpp"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/ThreadPool.h>
#include <Poco/Timespan.h>
#include <Poco/URI.h>
#include <spdlog/spdlog.h>

#include <mutex>

#include "core/metrics/exposition.hpp"

namespace dsm::metrics {

namespace {

using Poco::Net::HTTPResponse;

class Handler final : public Poco::Net::HTTPRequestHandler {
  public:
    explicit Handler(const MetricsServer::Render& render) : render_(render) {}

    void handleRequest(Poco::Net::HTTPServerRequest& req,
                       Poco::Net::HTTPServerResponse& resp) override {
        std::string path;
        try {
            path = Poco::URI(req.getURI()).getPath();
        } catch (const Poco::Exception&) {
            path.clear();  // unparsable: not /metrics
        }
        resp.setKeepAlive(false);
        if (path != "/metrics") {
            send(resp, HTTPResponse::HTTP_NOT_FOUND, "text/plain; charset=utf-8",
                 "not found: try /metrics\n");
            return;
        }
        if (req.getMethod() != Poco::Net::HTTPRequest::HTTP_GET) {
            resp.set("Allow", "GET");
            send(resp, HTTPResponse::HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
                 "method not allowed: GET only\n");
            return;
        }
        std::string body;
        try {
            body = render_();
        } catch (const std::exception& e) {
            spdlog::error("metrics: rendering failed: {}", e.what());
            send(resp, HTTPResponse::HTTP_INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8",
                 "internal error\n");
            return;
        }
        send(resp, HTTPResponse::HTTP_OK, std::string(kContentType), body);
    }

  private:
    static void send(Poco::Net::HTTPServerResponse& resp, HTTPResponse::HTTPStatus status,
                     const std::string& type, const std::string& body) {
        resp.setStatusAndReason(status);
        resp.setContentType(type);
        resp.setContentLength(static_cast<std::streamsize>(body.size()));
        resp.send() << body;
    }

    const MetricsServer::Render& render_;
};

class Factory final : public Poco::Net::HTTPRequestHandlerFactory {
  public:
    explicit Factory(MetricsServer::Render render) : render_(std::move(render)) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(
        const Poco::Net::HTTPServerRequest& /*req*/) override {
        return new Handler(render_);
    }

  private:
    MetricsServer::Render render_;
};

}  // namespace

struct MetricsServer::Impl {
    Impl() : pool("metrics", 1, kMaxThreads) {}
    Poco::Net::ServerSocket listener;
    // Before `server`: its threads come from here, so it is destroyed after.
    Poco::ThreadPool pool;
    std::unique_ptr<Poco::Net::HTTPServer> server;
    std::uint16_t port = 0;
    std::mutex mu;
    bool started = false;
    bool stopped = false;
};

Result<std::unique_ptr<MetricsServer>> MetricsServer::create(const std::string& listen,
                                                             Render render) {
    std::unique_ptr<MetricsServer> s(new MetricsServer());
    s->impl_ = std::make_unique<Impl>();
    try {
        const Poco::Net::SocketAddress address(listen);
        // SO_REUSEADDR for restarts, never SO_REUSEPORT: a second instance
        // on the same port must fail.
        s->impl_->listener.bind(address, true, false);
        s->impl_->listener.listen(64);
        s->impl_->port = s->impl_->listener.address().port();
        Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams;
        params->setMaxThreads(kMaxThreads);
        params->setMaxQueued(kMaxQueued);
        params->setKeepAlive(false);
        params->setTimeout(Poco::Timespan(10, 0));
        params->setServerName("dane-sts-milter");
        s->impl_->server = std::make_unique<Poco::Net::HTTPServer>(
            new Factory(std::move(render)), s->impl_->pool, s->impl_->listener, params);
    } catch (const Poco::Exception& e) {
        return Error{"\"" + listen + "\": " + e.displayText()};
    } catch (const std::exception& e) {
        return Error{"\"" + listen + "\": " + e.what()};
    }
    return s;
}

MetricsServer::~MetricsServer() {
    stop();
}

void MetricsServer::start() {
    const std::lock_guard lock(impl_->mu);
    if (impl_->started || impl_->stopped) {
        return;
    }
    impl_->started = true;
    impl_->server->start();
}

void MetricsServer::stop() {
    if (!impl_ || !impl_->server) {
        return;  // create() failed before there was a server
    }
    const std::lock_guard lock(impl_->mu);
    if (impl_->stopped) {
        return;
    }
    impl_->stopped = true;
    try {
        impl_->server->stopAll(true);  // no new connections; open ones aborted
        impl_->listener.close();
        impl_->pool.joinAll();  // every request handler has returned
    } catch (const std::exception& e) {
        spdlog::error("metrics: stopping: {}", e.what());
    } catch (...) {
        spdlog::error("metrics: stopping failed");
    }
}

std::uint16_t MetricsServer::port() const {
    return impl_->port;
}

}  // namespace dsm::metrics
