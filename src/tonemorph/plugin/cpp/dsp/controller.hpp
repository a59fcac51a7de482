// The plugin's non-real-time side: a worker thread that reads and checks `.tmodel` files,
// designs chains (the cabinet's FFTs, --amount), measures the --amount / --drive loudness
// compensation, polls the tone file for changes and hands finished chains to the Engine.
// Everything here may allocate and block; nothing here runs on the audio thread except the
// atomic setters.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "compensation.hpp"
#include "engine.hpp"

namespace tonemorph {

constexpr double kMinRateHz = 32000, kMaxRateHz = 192000;  // model.NATIVE_RATES_HZ

class Controller {
  public:
    Controller(Engine& engine, double sample_rate, int channels);
    ~Controller();

    void start();  // the worker thread
    void stop();

    // --- host/main thread -------------------------------------------------------------------
    // Play the tone file at `path`; when it cannot be read, fall back to `saved_document`
    // (the copy kept in the session) if there is one.
    void load_file(const std::string& path);
    // Play a tone from its document text (session state, or the tone built into the plugin).
    void load_document(const std::string& text, const std::string& source);
    // Finish any pending load and the chain for the current knobs now (activate, offline use).
    void build_now();

    // --- any thread, real-time safe ----------------------------------------------------------
    void set_knobs(double amount, double drive_db, double tone_db, double level_db);

    // --- for the host's state and the user ---------------------------------------------------
    std::string path() const;
    std::string document() const;
    // What the user asked to play (a load not yet done included): path, document text.
    std::pair<std::string, std::string> wanted() const;
    std::string status() const;  // one line: what plays, or why nothing does
    bool has_tone() const;
    int latency_samples() const;

  private:
    struct Request {
        bool pending = false;
        std::string path, text, source;
    };
    void loop();
    bool service();  // one round of work; true when it did something
    void take_request(Request& r);  // swap out the pending request and apply it (build_mutex_ held)
    void apply_request(Request r);
    void rebuild();
    void update_compensation(bool force);
    void poll_file();
    void set_status(const std::string& s, bool error);

    Engine& engine_;
    double sample_rate_;
    int channels_;

    mutable std::mutex mutex_;  // guards everything below that is not atomic
    std::condition_variable wake_;
    Request request_;
    // the request the worker or build_now took and is applying (pending until applied): a
    // load that arrives meanwhile takes its fallback from it, not from the old tone
    Request inflight_;
    std::shared_ptr<const Tone> tone_;
    std::string path_, document_, status_;
    long long file_stamp_ = 0;
    double built_amount_ = -1;
    double comp_key_[2] = {-1, 1e9};       // amount, drive the compensation is for
    std::vector<float> reference_;         // compensation excerpt for tone_
    ExcerptLevels reference_levels_;       // its levels in and out of the full tone_

    std::mutex build_mutex_;  // the worker and build_now never design at the same time
    std::atomic<double> amount_{1.0}, drive_db_{0}, tone_db_{0};
    std::atomic<bool> running_{false};
    std::thread thread_;
};

long long file_stamp(const std::string& path);  // mtime and size; 0 when missing

}  // namespace tonemorph
