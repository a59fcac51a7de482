// --amount's and --drive's loudness compensation (mirror of Tone._compensation_db): the gain
// (dB) that puts a partial or re-driven tone's loudness between the dry input's and the full
// tone's (the full tone's at amount 1; the tone knob's tilt is not compensated), measured as
// active RMS (dsp.matcheq.active_rms_db) on an excerpt. The CLI measures the take; the plugin
// cannot see the take ahead, so it measures a fixed reference excerpt at the tone's learning
// level.
#pragma once

#include <vector>

#include "params.hpp"
#include "tone.hpp"

namespace tonemorph {

// RMS (dBFS) of x's active part: 50 ms frames above -70 dBFS and within 40 dB of their mean.
double active_rms_db(const float* x, size_t n, double sample_rate);

// The excerpt's active RMS (dBFS) as it goes in and out of the full tone: what every knob
// setting's compensation compares with (measured once per tone and excerpt).
struct ExcerptLevels {
    double in_db = 0, full_db = 0;
};
ExcerptLevels excerpt_levels(const Tone& tone, double sample_rate,
                             const std::vector<float>& mono_excerpt);

double compensation_db(const Tone& tone, const Knobs& knobs, double sample_rate,
                       const std::vector<float>& mono_excerpt, const ExcerptLevels& levels);
double compensation_db(const Tone& tone, const Knobs& knobs, double sample_rate,
                       const std::vector<float>& mono_excerpt);

// 6 s of plucked-string-like notes at the level the tone learned from (-20 dBFS active RMS
// before its input gain), deterministic: the plugin's compensation excerpt.
std::vector<float> reference_excerpt(const Tone& tone, double sample_rate);

}  // namespace tonemorph
