// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/rebuild/http_client.hpp"

#include <curl/curl.h>
#include <sys/epoll.h>

namespace fipd::rebuild {

struct HttpClient::Transfer {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string body;  // what we send; curl reads it in place
  HttpResult result;
  Done done;
  ~Transfer() {
    curl_slist_free_all(headers);
    curl_easy_cleanup(easy);
  }
};

namespace {
size_t write_body(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<HttpResult*>(user);
  size_t len = size * n;
  if (r->body.size() < 64 * 1024) r->body.append(data, std::min(len, 64 * 1024 - r->body.size()));
  return len;
}
}  // namespace

std::string HttpResult::describe() const {
  if (!error.empty()) return error;
  return "HTTP " + std::to_string(status);
}

Result<std::unique_ptr<HttpClient>> HttpClient::create(loop::Loop& loop) {
  static const bool initialised = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  if (!initialised) return fail(EIO, "initialise libcurl");
  std::unique_ptr<HttpClient> c(new HttpClient(loop));
  c->multi_ = curl_multi_init();
  if (!c->multi_) return fail(ENOMEM, "create a curl multi handle");
  curl_multi_setopt(c->multi_, CURLMOPT_SOCKETFUNCTION, &HttpClient::on_socket);
  curl_multi_setopt(c->multi_, CURLMOPT_SOCKETDATA, c.get());
  curl_multi_setopt(c->multi_, CURLMOPT_TIMERFUNCTION, &HttpClient::on_timer);
  curl_multi_setopt(c->multi_, CURLMOPT_TIMERDATA, c.get());
  return c;
}

HttpClient::HttpClient(loop::Loop& loop) : loop_(loop) {}

HttpClient::~HttpClient() {
  for (auto& [easy, t] : transfers_) curl_multi_remove_handle(multi_, easy);
  transfers_.clear();
  for (auto& [fd, id] : sockets_) loop_.remove(id);
  if (timer_ != loop::kNoSource) loop_.remove(timer_);
  curl_multi_cleanup(multi_);
}

Status HttpClient::post(const std::string& url, const std::string& json, std::chrono::nanoseconds timeout,
                            Done done) {
  auto t = std::make_unique<Transfer>();
  t->easy = curl_easy_init();
  if (!t->easy) return fail(ENOMEM, "create a curl handle for " + url);
  t->body = json;
  t->done = std::move(done);
  t->headers = curl_slist_append(nullptr, "Content-Type: application/json");
  CURL* e = t->easy;
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body.data());
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, static_cast<long>(t->body.size()));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()));
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &write_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &t->result);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "fipd");
  // Only the schemes configured; no redirects to elsewhere.
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  if (CURLMcode m = curl_multi_add_handle(multi_, e); m != CURLM_OK)
    return fail(EIO, "start POST to " + url + ": " + curl_multi_strerror(m));
  transfers_[e] = std::move(t);
  return {};
}

int HttpClient::on_socket(CURL*, int fd, int what, void* self_ptr, void*) {
  auto* self = static_cast<HttpClient*>(self_ptr);
  auto it = self->sockets_.find(fd);
  if (what == CURL_POLL_REMOVE) {
    if (it != self->sockets_.end()) {
      self->loop_.remove(it->second);
      self->sockets_.erase(it);
    }
    return 0;
  }
  uint32_t events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
  if (it != self->sockets_.end()) {
    (void)self->loop_.set_io_events(it->second, events);
    return 0;
  }
  auto src = self->loop_.add_io(fd, events, [self, fd](uint32_t ev) {
    int flags = (ev & EPOLLIN ? CURL_CSELECT_IN : 0) | (ev & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                (ev & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
    self->drive(fd, flags);
  });
  if (src) self->sockets_[fd] = *src;
  return src ? 0 : -1;
}

int HttpClient::on_timer(CURLM*, long timeout_ms, void* self_ptr) {
  auto* self = static_cast<HttpClient*>(self_ptr);
  if (timeout_ms < 0) {
    if (self->timer_ != loop::kNoSource) self->loop_.disarm_timer(self->timer_);
    return 0;
  }
  // Not from inside curl's own call: curl asks for "now" (0 ms) often.
  auto when = self->loop_.now() + std::chrono::milliseconds(timeout_ms);
  if (self->timer_ == loop::kNoSource)
    self->timer_ = self->loop_.add_timer(when, [self](TimePoint) { self->drive(CURL_SOCKET_TIMEOUT, 0); });
  else
    self->loop_.rearm_timer(self->timer_, when);
  return 0;
}

void HttpClient::drive(int fd, int events) {
  int running = 0;
  curl_multi_socket_action(multi_, fd, events, &running);
  collect();
}

void HttpClient::collect() {
  int left = 0;
  while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
    if (m->msg != CURLMSG_DONE) continue;
    CURL* e = m->easy_handle;
    auto it = transfers_.find(e);
    if (it == transfers_.end()) continue;
    std::unique_ptr<Transfer> t = std::move(it->second);
    transfers_.erase(it);
    if (m->data.result != CURLE_OK) t->result.error = curl_easy_strerror(m->data.result);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &t->result.status);
    curl_multi_remove_handle(multi_, e);
    // The callback may destroy the client: call it from the loop, not here.
    loop_.defer([t = std::shared_ptr<Transfer>(std::move(t))] { t->done(t->result); });
  }
}

}  // namespace fipd::rebuild
