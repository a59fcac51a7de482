// Dynamics stages (sag, comp): feed-forward soft-knee compressor with an RMS detector per
// control hop and attack/release on the gain reduction (mirror of kernels.compressor_block).
#pragma once

#include <cmath>

namespace tonemorph {

constexpr int kControlHop = 32;  // samples per control step, as CONTROL_HOP
constexpr double kKneeDb = 6.0;

struct Compressor {
    double threshold_db = 0, slope = 0, a_att = 0, a_rel = 0;
    // state: sum of squares in the hop, samples in it, smoothed reduction (dB), gains k-2, k-1
    double acc = 0, smooth = 0, g2 = 1, g1 = 1;
    int count = 0;

    void design(double sample_rate, double thr_db, double ratio, double attack_ms,
                double release_ms) {
        const double rate = sample_rate / kControlHop;
        threshold_db = thr_db;
        slope = 1.0 / ratio - 1.0;
        a_att = std::exp(-1000.0 / (attack_ms * rate));
        a_rel = std::exp(-1000.0 / (release_ms * rate));
    }
    void reset() { acc = 0, smooth = 0, g2 = 1, g1 = 1, count = 0; }
    void adopt(const Compressor& o) { acc = o.acc, smooth = o.smooth, g2 = o.g2, g1 = o.g1, count = o.count; }

    void process(float* x, int n) {
        for (int i = 0; i < n; ++i) {
            // the gain ramps from hop k-2's value to hop k-1's across hop k
            // * (1/32) equals / 32 exactly (a power of two), without a division per sample
            const double g = g2 + (g1 - g2) * (count + 1) * (1.0 / kControlHop);
            const double v = x[i];
            acc += v * v;
            ++count;
            x[i] = static_cast<float>(x[i] * g);
            if (count == kControlHop) end_hop();
        }
    }

  private:
    void end_hop() {
        // the level goes through float32 as the chain's float32 torch path does
        const float ms = static_cast<float>(acc / kControlHop) + 1e-10f;
        const double level = 10.0 * static_cast<double>(std::log10(ms));
        const double over = level - threshold_db;
        double target;
        if (2.0 * over < -kKneeDb) target = 0.0;
        else if (2.0 * over > kKneeDb) target = slope * over;
        else target = slope * (over + kKneeDb / 2) * (over + kKneeDb / 2) / (2 * kKneeDb);
        const double a = target < smooth ? a_att : a_rel;
        smooth = a * smooth + (1.0 - a) * target;
        g2 = g1;
        g1 = std::pow(10.0, smooth / 20.0);
        acc = 0;
        count = 0;
    }
};

}  // namespace tonemorph
