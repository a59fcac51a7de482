// Drive stage: asymmetric soft clipper at twice the sample rate, polyphase halfband FIR
// (mirror of kernels.shaper_2x_block; float32 like the fast path). Latency 23 samples.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>

namespace tonemorph {

constexpr int kOversampleTaps = 47;                      // OVERSAMPLE_TAPS
constexpr int kDriveLatency = (kOversampleTaps - 1) / 2;  // group delay of the causal FIRs

namespace detail {
inline double bessel_i0(double x) {  // power series; converges fast for the Kaiser betas used
    double sum = 1.0, term = 1.0;
    for (int k = 1; k < 200 && term > 1e-17 * sum; ++k) {
        term *= (x / (2.0 * k)) * (x / (2.0 * k));
        sum += term;
    }
    return sum;
}
}  // namespace detail

// scipy.signal.firwin(47, 0.5, window=("kaiser", 7.0)): windowed sinc, unit DC gain.
inline void oversample_fir(double* h) {
    const double beta = 7.0, alpha = 0.5 * (kOversampleTaps - 1);
    double sum = 0.0;
    for (int n = 0; n < kOversampleTaps; ++n) {
        const double m = n - alpha, x = 0.5 * m;
        const double sinc = m == 0 ? 1.0 : std::sin(M_PI * x) / (M_PI * x);
        const double r = (n - alpha) / alpha;
        const double w = detail::bessel_i0(beta * std::sqrt(std::max(0.0, 1.0 - r * r))) /
                         detail::bessel_i0(beta);
        h[n] = 0.5 * sinc * w;
        sum += h[n];
    }
    for (int n = 0; n < kOversampleTaps; ++n) h[n] /= sum;
}

inline double soft_clip(double u) {  // Pade tanh, clipped where it reaches +-1
    u = std::min(std::max(u, -4.97), 4.97);
    const double u2 = u * u;
    return u * (135135 + u2 * (17325 + u2 * (378 + u2))) /
           (135135 + u2 * (62370 + u2 * (3150 + 28 * u2)));
}

struct Shaper {
    static constexpr int kEven = (kOversampleTaps + 1) / 2;  // 24 even-phase taps
    static constexpr int kHist = kEven - 1;                   // 23
    static constexpr int kHalf = kHist / 2;                   // 11: odd phase = input delayed
    static constexpr int kChunk = 256;

    float h_even[kEven];
    float h_center = 0, hc2 = 0;
    float drive = 1, bias = 0, sb = 0, norm = 1;
    float ext[kHist + kChunk] = {}, ve[kHist + kChunk] = {}, vo[kHist + kChunk] = {};

    Shaper() {
        double h[kOversampleTaps];
        oversample_fir(h);
        for (int k = 0; k < kEven; ++k) h_even[k] = static_cast<float>(h[2 * k]);
        h_center = static_cast<float>(h[kOversampleTaps / 2]);
        hc2 = static_cast<float>(2.0 * h[kOversampleTaps / 2]);
    }

    // drive_linear: gain into the clipper; bias: its asymmetry. Unit small-signal gain out.
    void set(double drive_linear, double bias_value) {
        drive = static_cast<float>(drive_linear);
        bias = static_cast<float>(bias_value);
        sb = static_cast<float>(soft_clip(bias_value));
        norm = static_cast<float>(1.0 / (drive_linear * (1.0 - static_cast<double>(sb) * sb)));
    }
    void reset() {
        std::memset(ext, 0, sizeof ext), std::memset(ve, 0, sizeof ve), std::memset(vo, 0, sizeof vo);
    }
    void adopt(const Shaper& o) {
        std::memcpy(ext, o.ext, sizeof(float) * kHist), std::memcpy(ve, o.ve, sizeof(float) * kHist);
        std::memcpy(vo, o.vo, sizeof(float) * kHist);
    }

    void process(float* x, int n) {
        for (int i = 0; i < n; i += kChunk) chunk(x + i, std::min(kChunk, n - i));
    }

  private:
    // y[i] = sum_k h[k] src[kHist + i - k]  (k outer: the inner loop vectorises)
    void fir(const float* src, float* y, int n) const {
        for (int i = 0; i < n; ++i) y[i] = 0.0f;
        for (int k = 0; k < kEven; ++k) {
            const float hk = h_even[k];
            const float* s = src + kHist - k;
            for (int i = 0; i < n; ++i) y[i] += hk * s[i];
        }
    }

    void shape(float* v, int n) const {
        const float lim = 4.97f;
        for (int j = 0; j < n; ++j) {
            float u = std::min(std::max(drive * v[j] + bias, -lim), lim);
            float u2 = u * u;
            v[j] = (u * (135135 + u2 * (17325 + u2 * (378 + u2))) /
                        (135135 + u2 * (62370 + u2 * (3150 + 28 * u2))) - sb) * norm;
        }
    }

    void chunk(float* x, int n) {
        std::memcpy(ext + kHist, x, sizeof(float) * n);
        fir(ext, ve + kHist, n);
        for (int i = 0; i < n; ++i) ve[kHist + i] *= 2.0f;
        for (int i = 0; i < n; ++i) vo[kHist + i] = ext[kHist + i - kHalf] * hc2;
        shape(ve + kHist, n);
        shape(vo + kHist, n);
        fir(ve, x, n);
        for (int i = 0; i < n; ++i) x[i] += h_center * vo[kHist + i - kHalf - 1];
        // keep the last kHist samples of each line as the next chunk's history
        std::memmove(ext, ext + n, sizeof(float) * kHist);
        std::memmove(ve, ve + n, sizeof(float) * kHist);
        std::memmove(vo, vo + n, sizeof(float) * kHist);
    }
};

}  // namespace tonemorph
