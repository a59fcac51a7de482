// Gain stages (trim, output): a float32 multiply, as GainOp. The output gain also carries
// the level knob and the --amount compensation, smoothed per sample when they move.
#pragma once

#include <cmath>

namespace tonemorph {

struct GainStage {
    float gain = 1.0f;    // settled target, float32 like np.float32(gain)
    float current = 1.0f;  // where a ramp stands

    void set(double gain_linear) { gain = static_cast<float>(gain_linear); }
    void snap() { current = gain; }

    // Multiply x in place; a moving target is ramped linearly across the block (no zipper).
    void process(float* x, int n) {
        if (current == gain) {
            for (int i = 0; i < n; ++i) x[i] *= gain;
            return;
        }
        float step = (gain - current) / static_cast<float>(n);
        for (int i = 0; i < n; ++i) x[i] *= current + step * static_cast<float>(i + 1);
        current = gain;
    }
};

}  // namespace tonemorph
