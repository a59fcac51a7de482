// The real-time side: runs the current Chain on host buffers, swaps in new chains handed
// over by a worker thread (lock-free, with a raised-cosine crossfade), smooths the live knobs,
// bypasses click-free against a latency-aligned dry path, flushes denormals and mutes then
// recovers when the chain produces NaN/Inf. `run` neither allocates, locks nor does I/O.
#pragma once

#include <atomic>
#include <memory>

#include "chain.hpp"

namespace tonemorph {

class Engine {
  public:
    static constexpr int kSub = 64;        // samples per control step (knob smoothing)
    static constexpr int kMaxLatency = 64;  // dry-path delay line (the drive needs 23)
    static_assert(kSub <= kMaxLatency, "one control step must fit the dry line");

    Engine(double sample_rate, int channels);
    ~Engine();

    // --- audio thread -----------------------------------------------------------------
    void run(const float* const* in, float* const* out, int n);

    // --- any thread (atomics) -------------------------------------------------------------
    void set_knobs(double drive_db, double tone_db, double level_db);
    void set_compensation_db(double db) { comp_db_.store(db); }
    void set_bypass(bool on) { bypass_.store(on); }
    int latency_samples() const { return latency_.load(); }
    unsigned faults() const { return faults_.load(); }

    // --- worker / setup thread --------------------------------------------------------------
    // Hand over a chain; it starts at the next control step with a crossfade.
    void offer(std::unique_ptr<Chain> chain);
    // Install a chain at once (no fade; not while `run` may be running: activate/offline).
    void install_now(std::unique_ptr<Chain> chain);
    // Free chains the audio thread is done with (call from the worker).
    void collect();
    // Forget the stream (activate): states cleared, ramps snapped at the next run.
    void reset();
    bool has_chain() const { return has_chain_.load(); }

  private:
    void step(const float* const* in, float* const* out, int n);
    void take_pending();
    void smooth_knobs(int n);
    void mix_bypass(int c, const float* dry, float* wet, int n);

    double sample_rate_;
    int channels_;
    Chain* active_ = nullptr;
    Chain* incoming_ = nullptr;
    std::atomic<Chain*> pending_{nullptr};
    std::atomic<Chain*> retired_{nullptr};
    std::atomic<bool> has_chain_{false};
    int fade_pos_ = 0, fade_len_ = 0;

    std::atomic<double> drive_db_{0}, tone_db_{0}, level_db_{0}, comp_db_{0};
    std::atomic<bool> bypass_{false};
    std::atomic<int> latency_{0};
    std::atomic<unsigned> faults_{0};
    LiveKnobs live_;  // smoothed
    double knob_coef_ = 0;
    bool fresh_ = true;

    float bypass_mix_ = 0, bypass_step_ = 0;   // 1: dry only
    float recover_gain_ = 1, recover_step_ = 0;  // after a NaN/Inf mute
    float dry_[kMaxChannels][kSub], wet_a_[kMaxChannels][kSub], wet_b_[kSub];
    float delay_[kMaxChannels][kMaxLatency] = {};
    int delay_pos_ = 0;
};

// Flush denormals to zero for the scope (x86 MXCSR FTZ/DAZ, AArch64 FPCR FZ).
class ScopedFlushDenormals {
  public:
    ScopedFlushDenormals();
    ~ScopedFlushDenormals();

  private:
    unsigned long saved_ = 0;
};

}  // namespace tonemorph
