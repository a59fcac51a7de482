// Peak limit stage (mirror of kernels.limit_gain_block): a zero-latency peak limiter whose
// gain falls at once to keep |x| at the ceiling and recovers toward 1 with a fixed release.
#pragma once

#include <cmath>

namespace tonemorph {

constexpr double kLimitReleaseMs = 50.0;  // kernels.LIMIT_RELEASE_MS

struct PeakLimit {
    double ceiling = 1e6;  // linear
    double a_rel = 0.0;
    double g = 1.0;  // gain carried between blocks

    void design(double sample_rate, double ceiling_db) {
        ceiling = std::pow(10.0, ceiling_db / 20.0);
        a_rel = std::exp(-1000.0 / (kLimitReleaseMs * sample_rate));
    }
    void reset() { g = 1.0; }
    void adopt(const PeakLimit& o) { g = o.g; }

    void process(float* x, int n) {
        for (int i = 0; i < n; ++i) {
            g = 1.0 - (1.0 - g) * a_rel;
            double a = std::fabs(static_cast<double>(x[i]));
            if (a * g > ceiling) g = ceiling / a;
            // float32(float32 x * float64 gain), as (x * g).astype(np.float32)
            x[i] = static_cast<float>(static_cast<double>(x[i]) * g);
        }
    }
};

}  // namespace tonemorph
