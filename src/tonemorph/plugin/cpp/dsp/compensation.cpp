#include "compensation.hpp"

#include <cmath>
#include <cstdint>

#include "chain.hpp"

namespace tonemorph {

double active_rms_db(const float* x, size_t n, double sample_rate) {
    const size_t frame = std::max<size_t>(1, static_cast<size_t>(std::lround(0.05 * sample_rate)));
    std::vector<double> levels;
    const size_t n_frames = n < frame ? 1 : 1 + (n - frame) / frame;
    for (size_t f = 0; f < n_frames; ++f) {
        double sum = 0.0;
        for (size_t i = f * frame; i < (f + 1) * frame && i < n; ++i) sum += double(x[i]) * x[i];
        const double ms = sum / frame;
        levels.push_back(ms > 0 ? std::max(10.0 * std::log10(ms), -200.0) : -200.0);
    }
    double mean = 0.0;
    size_t count = 0;
    for (double l : levels)
        if (l > -70.0) mean += std::pow(10.0, l / 10.0), ++count;
    if (!count) return -200.0;
    const double gate = 10.0 * std::log10(mean / count) - 40.0;
    double sum = 0.0;
    count = 0;
    for (double l : levels)
        if (l > -70.0 && l > gate) sum += std::pow(10.0, l / 10.0), ++count;
    return count ? 10.0 * std::log10(sum / count) : -200.0;
}

namespace {
std::vector<float> render(const Tone& tone, double amount, const LiveKnobs& live, double sr,
                          const std::vector<float>& x) {
    Chain chain(tone, amount, sr, 1);
    chain.set_live(live);
    chain.snap();
    std::vector<float> y(x);
    chain.process(0, y.data(), static_cast<int>(y.size()));
    return y;
}
}  // namespace

ExcerptLevels excerpt_levels(const Tone& tone, double sample_rate, const std::vector<float>& mono) {
    auto full = render(tone, 1.0, LiveKnobs{}, sample_rate, mono);
    return {active_rms_db(mono.data(), mono.size(), sample_rate),
            active_rms_db(full.data(), full.size(), sample_rate)};
}

double compensation_db(const Tone& tone, const Knobs& knobs, double sample_rate,
                       const std::vector<float>& mono, const ExcerptLevels& levels) {
    if (!knobs.compensated()) return 0.0;
    auto part = render(tone, knobs.amount, LiveKnobs{knobs.drive_db, 0.0, 0.0}, sample_rate, mono);
    const double l_part = active_rms_db(part.data(), part.size(), sample_rate);
    return levels.in_db + knobs.amount * (levels.full_db - levels.in_db) - l_part;
}

double compensation_db(const Tone& tone, const Knobs& knobs, double sample_rate,
                       const std::vector<float>& mono) {
    if (!knobs.compensated()) return 0.0;
    return compensation_db(tone, knobs, sample_rate, mono, excerpt_levels(tone, sample_rate, mono));
}

std::vector<float> reference_excerpt(const Tone& tone, double sample_rate) {
    const size_t n = static_cast<size_t>(6.0 * sample_rate);
    std::vector<float> x(n, 0.0f);
    const double notes_hz[] = {82.41, 110.0, 146.83, 196.0, 246.94, 329.63, 164.81, 220.0};
    const size_t note_len = n / 12;
    uint32_t seed = 12345u;
    for (size_t k = 0; k < 12; ++k) {
        const double f0 = notes_hz[k % 8];
        for (size_t i = 0; i < note_len; ++i) {
            const double t = i / sample_rate, env = std::exp(-3.0 * t);
            double v = 0.0;
            for (int h = 1; h <= 12 && h * f0 < 0.45 * sample_rate; ++h)
                v += std::sin(2 * M_PI * h * f0 * t + h) / h;
            seed = seed * 1664525u + 1013904223u;  // a little pick noise
            v += 0.05 * (double(seed >> 8) / double(1u << 24) - 0.5) * std::exp(-60.0 * t);
            x[k * note_len + i] = static_cast<float>(v * env);
        }
    }
    const double target_db = -20.0 - tone.input_gain_db;  // the level learning levelled to
    const double gain = std::pow(10.0, (target_db - active_rms_db(x.data(), n, sample_rate)) / 20.0);
    for (auto& v : x) v = static_cast<float>(v * gain);
    return x;
}

}  // namespace tonemorph
