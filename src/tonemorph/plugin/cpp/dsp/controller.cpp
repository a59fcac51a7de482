#include "controller.hpp"

#include <sys/stat.h>

#include <chrono>
#include <cstdio>

namespace tonemorph {

long long file_stamp(const std::string& path) {
    struct stat st {};
    if (path.empty() || stat(path.c_str(), &st) != 0) return 0;
    return static_cast<long long>(st.st_mtim.tv_sec) * 1000000007LL + st.st_mtim.tv_nsec + st.st_size;
}

Controller::Controller(Engine& engine, double sample_rate, int channels)
    : engine_(engine), sample_rate_(sample_rate), channels_(channels) {}

Controller::~Controller() { stop(); }

void Controller::start() {
    if (running_.exchange(true)) return;
    thread_ = std::thread([this] { loop(); });
}

void Controller::stop() {
    if (!running_.exchange(false)) return;
    wake_.notify_all();
    thread_.join();
}

void Controller::load_file(const std::string& path) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        // the session's copy (restored before or after the path) is the fallback
        const Request& last = request_.pending ? request_ : inflight_;
        std::string doc = last.pending ? last.text : document_;
        request_ = Request{true, path, doc, "the session's saved tone"};
    }
    wake_.notify_all();
}

void Controller::load_document(const std::string& text, const std::string& source) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        // a path restored first keeps its file; its saved copy is this document
        const Request& last = request_.pending ? request_ : inflight_;
        std::string path = last.pending ? last.path : path_;
        request_ = Request{true, path, text, source};
    }
    wake_.notify_all();
}

void Controller::set_knobs(double amount, double drive_db, double tone_db, double level_db) {
    amount_.store(amount);
    drive_db_.store(drive_db);
    tone_db_.store(tone_db);
    engine_.set_knobs(drive_db, tone_db, level_db);
}

std::string Controller::path() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return path_;
}
std::string Controller::document() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return document_;
}
std::pair<std::string, std::string> Controller::wanted() const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (request_.pending) return {request_.path, request_.text};
    return {path_, document_};
}

std::string Controller::status() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return status_;
}
bool Controller::has_tone() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return tone_ != nullptr;
}
int Controller::latency_samples() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return tone_ ? tone_->latency_samples(sample_rate_) : 0;
}

void Controller::set_status(const std::string& s, bool error) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        status_ = s;
    }
    if (error) std::fprintf(stderr, "tonemorph: %s\n", s.c_str());  // the host's log
}

void Controller::build_now() {
    std::lock_guard<std::mutex> build(build_mutex_);
    Request r;
    take_request(r);
    std::shared_ptr<const Tone> tone;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        tone = tone_;
    }
    if (!tone) {
        engine_.install_now(nullptr);
        return;
    }
    update_compensation(true);
    auto chain = std::make_unique<Chain>(*tone, amount_.load(), sample_rate_, channels_);
    chain->tone_ptr = tone;
    built_amount_ = amount_.load();
    engine_.install_now(std::move(chain));
}

void Controller::take_request(Request& r) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        std::swap(r, request_);
        inflight_ = r;
    }
    if (r.pending) apply_request(r);
    std::lock_guard<std::mutex> lock(mutex_);
    inflight_ = Request{};
}

void Controller::apply_request(Request r) {
    std::shared_ptr<const Tone> tone;
    std::string text, message;
    bool error = false;
    if (!r.path.empty()) {
        try {
            tone = std::make_shared<const Tone>(load_tone(r.path, &text));
            message = "playing " + r.path;
        } catch (const ModelError& e) {
            message = e.what();
            error = true;
        }
    }
    if (!tone && !r.text.empty()) {
        try {
            tone = std::make_shared<const Tone>(parse_tone(r.text, r.source));
            text = r.text;
            message = r.path.empty() ? "playing " + r.source
                                     : message + "; playing the copy saved with the session";
        } catch (const ModelError& e) {
            message = e.what();
            error = true;
        }
    }
    if (tone && (sample_rate_ < kMinRateHz || sample_rate_ > kMaxRateHz)) {
        // as `tonemorph apply`'s native range; the CLI resamples other rates, a plugin cannot
        message = "the host runs at " + std::to_string(static_cast<int>(sample_rate_)) +
                  " Hz; tones play at 32-192 kHz: set the session's rate in that range";
        tone.reset();
        error = true;
    }
    if (!tone && r.path.empty() && r.text.empty()) return;
    if (!tone) message += " (audio passes through)";
    {
        std::lock_guard<std::mutex> lock(mutex_);
        path_ = r.path;
        file_stamp_ = file_stamp(r.path);
        if (tone) {
            tone_ = tone;
            document_ = text;
            reference_.clear();
            comp_key_[0] = -1;
        } else {
            tone_.reset();
            document_.clear();
        }
    }
    set_status(message, error);
    built_amount_ = -1;
    if (!tone) engine_.offer(Chain::passthrough(sample_rate_, channels_));
}

void Controller::rebuild() {
    std::shared_ptr<const Tone> tone;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        tone = tone_;
    }
    const double amount = amount_.load();
    if (!tone || amount == built_amount_) return;
    auto chain = std::make_unique<Chain>(*tone, amount, sample_rate_, channels_);
    chain->tone_ptr = tone;
    built_amount_ = amount;
    engine_.offer(std::move(chain));
}

void Controller::update_compensation(bool force) {
    const Knobs k{amount_.load(), drive_db_.load(), 0.0, 0.0};  // the tone knob is not compensated
    std::shared_ptr<const Tone> tone;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        tone = tone_;
        if (!tone) return;
        if (!force && k.amount == comp_key_[0] && k.drive_db == comp_key_[1]) return;
        if (k.compensated() && reference_.empty()) {
            reference_ = reference_excerpt(*tone, sample_rate_);
            reference_levels_ = excerpt_levels(*tone, sample_rate_, reference_);
        }
    }
    const double comp = k.compensated()
                            ? compensation_db(*tone, k, sample_rate_, reference_, reference_levels_)
                            : 0.0;
    engine_.set_compensation_db(comp);
    std::lock_guard<std::mutex> lock(mutex_);
    comp_key_[0] = k.amount, comp_key_[1] = k.drive_db;
}

void Controller::poll_file() {
    std::string path;
    long long stamp;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        path = path_;
        stamp = file_stamp_;
    }
    if (path.empty()) return;
    const long long now = file_stamp(path);
    if (now == 0 || now == stamp) return;  // missing: keep playing what we have
    std::string text;
    try {
        auto tone = std::make_shared<const Tone>(load_tone(path, &text));
        {
            std::lock_guard<std::mutex> lock(mutex_);
            tone_ = tone;
            document_ = text;
            file_stamp_ = now;
            reference_.clear();
            comp_key_[0] = -1;
        }
        built_amount_ = -1;
        set_status("reloaded " + path, false);
    } catch (const ModelError& e) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            file_stamp_ = now;
        }
        set_status(std::string(e.what()) + " (still playing the previous version)", true);
    }
}

bool Controller::service() {
    std::lock_guard<std::mutex> build(build_mutex_);
    engine_.collect();
    Request r;
    take_request(r);
    rebuild();
    update_compensation(false);
    return r.pending;
}

void Controller::loop() {
    auto next_poll = std::chrono::steady_clock::now();
    while (running_.load()) {
        service();
        if (std::chrono::steady_clock::now() >= next_poll) {
            std::lock_guard<std::mutex> build(build_mutex_);
            poll_file();
            next_poll = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
        }
        std::unique_lock<std::mutex> lock(mutex_);
        // 5 ms: an --amount move reaches the audio thread this soon (plus its design time)
        wake_.wait_for(lock, std::chrono::milliseconds(5),
                       [this] { return request_.pending || !running_.load(); });
    }
}

}  // namespace tonemorph
