#include "engine.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace tonemorph {

ScopedFlushDenormals::ScopedFlushDenormals() {
#if defined(__x86_64__) || defined(__i386__)
    saved_ = _mm_getcsr();
    _mm_setcsr(static_cast<unsigned>(saved_) | 0x8040);  // FTZ | DAZ
#elif defined(__aarch64__)
    unsigned long fpcr;
    asm volatile("mrs %0, fpcr" : "=r"(fpcr));
    saved_ = fpcr;
    asm volatile("msr fpcr, %0" : : "r"(fpcr | (1UL << 24)));
#endif
}

ScopedFlushDenormals::~ScopedFlushDenormals() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_setcsr(static_cast<unsigned>(saved_));
#elif defined(__aarch64__)
    asm volatile("msr fpcr, %0" : : "r"(saved_));
#endif
}

Engine::Engine(double sample_rate, int channels)
    : sample_rate_(sample_rate), channels_(std::min(channels, kMaxChannels)) {
    fade_len_ = std::max(1, static_cast<int>(0.02 * sample_rate));  // 20 ms crossfade
    knob_coef_ = 1.0 - std::exp(-kSub / (0.02 * sample_rate));       // 20 ms knob smoothing
}

Engine::~Engine() {
    delete active_;
    delete incoming_;
    delete pending_.exchange(nullptr);
    delete retired_.exchange(nullptr);
}

void Engine::set_knobs(double drive_db, double tone_db, double level_db) {
    drive_db_.store(drive_db);
    tone_db_.store(tone_db);
    level_db_.store(level_db);
}

void Engine::offer(std::unique_ptr<Chain> chain) {
    delete pending_.exchange(chain.release());  // an older offer never started: drop it
    has_chain_.store(true);
}

void Engine::install_now(std::unique_ptr<Chain> chain) {
    delete pending_.exchange(nullptr);
    delete incoming_;
    incoming_ = nullptr;
    delete active_;
    active_ = chain.release();
    has_chain_.store(active_ != nullptr);
    latency_.store(active_ ? active_->latency_samples() : 0);
    fresh_ = true;
}

void Engine::collect() { delete retired_.exchange(nullptr); }

void Engine::reset() {
    if (active_) active_->reset();
    std::memset(delay_, 0, sizeof delay_);
    fresh_ = true;
}

void Engine::take_pending() {
    if (incoming_ || retired_.load() != nullptr) return;  // one swap at a time
    Chain* c = pending_.exchange(nullptr);
    if (!c) return;
    c->set_live(live_);
    c->snap();
    if (active_ && active_->tone_ptr == c->tone_ptr) c->adopt(*active_);  // knob rebuild
    incoming_ = c;
    fade_pos_ = 0;
}

void Engine::smooth_knobs(int n) {
    LiveKnobs target{drive_db_.load(), tone_db_.load(), level_db_.load() + comp_db_.load()};
    if (fresh_) {
        live_ = target;  // the first block after activation starts at the knobs' values
    } else if (live_ != target) {
        const double a = n == kSub ? knob_coef_ : 1.0 - std::pow(1.0 - knob_coef_, double(n) / kSub);
        auto glide = [a](double& cur, double to, double snap_at) {
            cur += (to - cur) * a;
            if (std::fabs(to - cur) < snap_at) cur = to;
        };
        glide(live_.drive_db, target.drive_db, 1e-3);
        glide(live_.tone_db, target.tone_db, 1e-3);
        glide(live_.out_extra_db, target.out_extra_db, 1e-4);
    }
    for (Chain* c : {active_, incoming_})
        if (c && c->live() != live_) c->set_live(live_);
    if (fresh_) {
        for (Chain* c : {active_, incoming_})
            if (c) c->snap();
        bypass_mix_ = bypass_.load() ? 1.0f : 0.0f;
        fresh_ = false;
    }
}

void Engine::run(const float* const* in, float* const* out, int n) {
    ScopedFlushDenormals ftz;
    for (int done = 0; done < n;) {
        const int m = std::min(kSub, n - done);
        const float* ins[kMaxChannels];
        float* outs[kMaxChannels];
        for (int c = 0; c < channels_; ++c) ins[c] = in[c] + done, outs[c] = out[c] + done;
        step(ins, outs, m);
        done += m;
    }
}

void Engine::step(const float* const* in, float* const* out, int n) {
    take_pending();
    smooth_knobs(n);
    for (int c = 0; c < channels_; ++c) std::memcpy(dry_[c], in[c], sizeof(float) * n);
    bool finite = true;
    for (int c = 0; c < channels_; ++c) {
        float* wet = wet_a_[c];
        std::memcpy(wet, dry_[c], sizeof(float) * n);
        if (active_) active_->process(c, wet, n);
        if (incoming_) {
            std::memcpy(wet_b_, dry_[c], sizeof(float) * n);
            incoming_->process(c, wet_b_, n);
            for (int i = 0; i < n; ++i) {  // raised cosine: the two weights sum to one
                const double t = std::min(1.0, double(fade_pos_ + i + 1) / fade_len_);
                const float w = static_cast<float>(0.5 - 0.5 * std::cos(M_PI * t));
                wet[i] = (active_ ? wet[i] : dry_[c][i]) * (1.0f - w) + wet_b_[i] * w;
            }
        }
        for (int i = 0; i < n; ++i) finite &= std::isfinite(wet[i]) && std::fabs(wet[i]) < 1e6f;
    }
    if (incoming_ && (fade_pos_ += n) >= fade_len_) {
        retired_.store(active_);  // the worker frees it
        active_ = incoming_;
        incoming_ = nullptr;
        latency_.store(active_->latency_samples());
    }
    if (!finite) {  // mute this step, clear the state that blew up, fade back in over 10 ms
        faults_.fetch_add(1);
        for (Chain* c : {active_, incoming_})
            if (c) c->reset();
        for (int c = 0; c < channels_; ++c) std::memset(wet_a_[c], 0, sizeof(float) * n);
        recover_gain_ = 0.0f;
        recover_step_ = static_cast<float>(1.0 / (0.01 * sample_rate_));
    }
    if (recover_gain_ < 1.0f) {  // fade the chain back in; bypassed dry stays untouched
        float rg = recover_gain_;
        for (int c = 0; c < channels_; ++c) {
            rg = recover_gain_;
            for (int i = 0; i < n; ++i) {
                rg = std::min(1.0f, rg + recover_step_);
                wet_a_[c][i] *= rg;
            }
        }
        recover_gain_ = rg;
    }
    for (int c = 0; c < channels_; ++c) {
        mix_bypass(c, dry_[c], wet_a_[c], n);
        std::memcpy(out[c], wet_a_[c], sizeof(float) * n);
    }
    delay_pos_ = (delay_pos_ + n) % kMaxLatency;
}

void Engine::mix_bypass(int c, const float* dry, float* wet, int n) {
    // dry delayed by the chain's latency, so bypass lines up with the processed sound
    const int lat = std::min(latency_.load(), kMaxLatency - 1);
    float* line = delay_[c];
    const float target = bypass_.load() ? 1.0f : 0.0f;
    const float step = static_cast<float>(1.0 / (0.01 * sample_rate_));  // 10 ms ramp
    float mix = bypass_mix_;
    // a NaN/Inf input never reaches the output through bypass either: the line holds 0 there
    auto clean = [](float v) { return std::isfinite(v) ? v : 0.0f; };
    if (mix == 0.0f && target == 0.0f) {  // playing: only keep the dry line filled
        const int first = std::min(n, kMaxLatency - delay_pos_);
        for (int i = 0; i < first; ++i) line[delay_pos_ + i] = clean(dry[i]);
        for (int i = first; i < n; ++i) line[i - first] = clean(dry[i]);
        return;
    }
    for (int i = 0; i < n; ++i) {
        const int w = (delay_pos_ + i) % kMaxLatency;
        line[w] = clean(dry[i]);
        const float delayed = line[(w - lat + kMaxLatency) % kMaxLatency];
        if (mix != target) mix = target > mix ? std::min(target, mix + step) : std::max(target, mix - step);
        if (mix != 0.0f) wet[i] = wet[i] * (1.0f - mix) + delayed * mix;
    }
    if (c == channels_ - 1) bypass_mix_ = mix;
}

}  // namespace tonemorph
