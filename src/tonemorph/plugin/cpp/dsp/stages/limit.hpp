// Peak limit stage (mirror of kernels.limit_block): a look-ahead peak limiter. The gain a
// sample needs is held over the look-ahead, released toward 1 with a fixed release and
// averaged over the look-ahead, the audio delayed by look-ahead - 1 samples (the latency).
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

namespace tonemorph {

constexpr double kLimitReleaseMs = 50.0;   // kernels.LIMIT_RELEASE_MS
constexpr double kLimitLookaheadMs = 1.0;  // kernels.LIMIT_LOOKAHEAD_MS

// kernels.limit_lookahead: samples (>= 1) the gain ramps over before a peak
inline int limit_lookahead(double sample_rate) {
    return std::max(1, static_cast<int>(std::nearbyint(kLimitLookaheadMs * 1e-3 * sample_rate)));
}

struct PeakLimit {
    double ceiling = 1e6;  // linear
    double a_rel = 0.0;
    std::vector<double> need, box, delay;  // rings of the look-ahead's length
    double g_rel = 1.0, box_sum = 1.0, hold = 1.0;
    int pos = 0;

    // allocates: off the audio thread (a Chain is built there)
    void design(double sample_rate, double ceiling_db) {
        ceiling = std::pow(10.0, ceiling_db / 20.0);
        a_rel = std::exp(-1000.0 / (kLimitReleaseMs * sample_rate));
        const int n = limit_lookahead(sample_rate);
        need.assign(n, 1.0), box.assign(n, 1.0), delay.assign(n, 0.0);
        reset();
    }
    void reset() {
        std::fill(need.begin(), need.end(), 1.0);
        std::fill(box.begin(), box.end(), 1.0);
        std::fill(delay.begin(), delay.end(), 0.0);
        g_rel = 1.0, box_sum = static_cast<double>(box.size()), hold = 1.0, pos = 0;
    }
    void adopt(const PeakLimit& o) {
        if (o.need.size() != need.size()) return;  // another rate: start afresh
        std::copy(o.need.begin(), o.need.end(), need.begin());
        std::copy(o.box.begin(), o.box.end(), box.begin());
        std::copy(o.delay.begin(), o.delay.end(), delay.begin());
        g_rel = o.g_rel, box_sum = o.box_sum, hold = o.hold, pos = o.pos;
    }

    void process(float* x, int n) {
        const int look = static_cast<int>(need.size());
        for (int i = 0; i < n; ++i) {
            const double v = static_cast<double>(x[i]);
            const double a = std::fabs(v);
            const double r = a <= ceiling ? 1.0 : ceiling / a;
            const double leaving = need[pos];
            need[pos] = r;
            if (r <= hold) {
                hold = r;
            } else if (leaving == hold) {  // the minimum may have left the window: look again
                hold = need[0];
                for (int j = 1; j < look; ++j) hold = std::min(hold, need[j]);
            }
            g_rel = std::min(hold, 1.0 - (1.0 - g_rel) * a_rel);
            box_sum += g_rel - box[pos];
            box[pos] = g_rel;
            delay[pos] = v;
            if (++pos == look) pos = 0;
            const double g = std::min(box_sum / look, 1.0);
            // float32(float64 delayed x * float64 gain), as kernels.limit_block
            x[i] = static_cast<float>(delay[pos] * g);
        }
    }
};

}  // namespace tonemorph
