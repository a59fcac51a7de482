// EQ stages: RBJ-cookbook biquad cascades in transposed direct form II, float64 state
// (mirror of dsp/biquad.py rbj_section and kernels.biquad_cascade).
#pragma once

#include <cmath>
#include <cstring>

namespace tonemorph {

enum class BiquadKind { Highpass, Lowpass, Peaking, LowShelf, HighShelf };

struct Sos {
    double b0 = 1, b1 = 0, b2 = 0, a1 = 0, a2 = 0;  // a0 normalised to 1; default: identity
};

inline Sos rbj_design(BiquadKind kind, double freq_hz, double gain_db, double q,
                      double sample_rate) {
    const double w0 = 2.0 * M_PI * freq_hz / sample_rate;
    const double cw = std::cos(w0), alpha = std::sin(w0) / (2.0 * q);
    const double amp = std::pow(10.0, gain_db / 40.0), sa = std::sqrt(amp);
    double b[3], a[3];
    switch (kind) {
        case BiquadKind::Highpass:
            b[0] = (1 + cw) / 2, b[1] = -(1 + cw), b[2] = (1 + cw) / 2;
            a[0] = 1 + alpha, a[1] = -2 * cw, a[2] = 1 - alpha;
            break;
        case BiquadKind::Lowpass:
            b[0] = (1 - cw) / 2, b[1] = 1 - cw, b[2] = (1 - cw) / 2;
            a[0] = 1 + alpha, a[1] = -2 * cw, a[2] = 1 - alpha;
            break;
        case BiquadKind::Peaking:
            b[0] = 1 + alpha * amp, b[1] = -2 * cw, b[2] = 1 - alpha * amp;
            a[0] = 1 + alpha / amp, a[1] = -2 * cw, a[2] = 1 - alpha / amp;
            break;
        case BiquadKind::LowShelf: {
            const double k = 2.0 * sa * alpha;
            b[0] = amp * ((amp + 1) - (amp - 1) * cw + k);
            b[1] = 2 * amp * ((amp - 1) - (amp + 1) * cw);
            b[2] = amp * ((amp + 1) - (amp - 1) * cw - k);
            a[0] = (amp + 1) + (amp - 1) * cw + k;
            a[1] = -2 * ((amp - 1) + (amp + 1) * cw);
            a[2] = (amp + 1) + (amp - 1) * cw - k;
            break;
        }
        case BiquadKind::HighShelf: {
            const double k = 2.0 * sa * alpha;
            b[0] = amp * ((amp + 1) + (amp - 1) * cw + k);
            b[1] = -2 * amp * ((amp - 1) + (amp + 1) * cw);
            b[2] = amp * ((amp + 1) + (amp - 1) * cw - k);
            a[0] = (amp + 1) - (amp - 1) * cw + k;
            a[1] = 2 * ((amp - 1) - (amp + 1) * cw);
            a[2] = (amp + 1) - (amp - 1) * cw - k;
            break;
        }
    }
    return {b[0] / a[0], b[1] / a[0], b[2] / a[0], a[1] / a[0], a[2] / a[0]};
}

// A fixed-capacity cascade: the pre-EQ has 4 sections, the post-EQ 3 plus 2 tone-tilt ones.
struct BiquadCascade {
    static constexpr int kMaxSections = 6;
    Sos sos[kMaxSections];
    double state[kMaxSections][2] = {};
    int n_sections = 0;
    int n_active = 0;  // sections run: trailing identity sections (tone knob at 0) are skipped

    void add(const Sos& s) { sos[n_sections++] = s; n_active = n_sections; }
    void set_active(int n) {
        for (int s = n; s < n_active; ++s) state[s][0] = state[s][1] = 0.0;  // idle sections rest
        n_active = n;
    }
    void reset() { std::memset(state, 0, sizeof state); }
    void adopt(const BiquadCascade& o) {
        if (o.n_sections == n_sections) std::memcpy(state, o.state, sizeof state);
    }

    void process(float* x, int n) {
        for (int i = 0; i < n; ++i) {
            double v = x[i];
            for (int s = 0; s < n_active; ++s) {
                const Sos& c = sos[s];
                const double out = c.b0 * v + state[s][0];
                state[s][0] = c.b1 * v - c.a1 * out + state[s][1];
                state[s][1] = c.b2 * v - c.a2 * out;
                v = out;
            }
            x[i] = static_cast<float>(v);
        }
    }
};

}  // namespace tonemorph
