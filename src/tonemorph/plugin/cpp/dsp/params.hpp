// Parameter ranges of the chain (mirror of tonemorph/chain/params.py) and how the knobs move
// them (mirror of Tone.knob_values and Range.settle): the fast path applies every stored value
// through `settle`, so we must too or edge values differ.
#pragma once

#include <algorithm>
#include <cmath>

namespace tonemorph {

enum class AmountMode { Lerp, LogLerp, Keep };

struct Range {
    double lo, hi, neutral;
    bool log;

    // to_raw then to_value: clamps 1 % inside the range (sigmoid round trip of the learner)
    double settle(double value) const {
        double l = log ? std::log(lo) : lo, h = log ? std::log(hi) : hi;
        double v = log ? std::log(std::max(value, 1e-12)) : value;
        double p = std::min(std::max((v - l) / (h - l), 0.01), 0.99);
        double raw = std::log(p / (1 - p));
        double s = 1.0 / (1.0 + std::exp(-raw));
        return log ? std::exp(l + (h - l) * s) : lo + (hi - lo) * s;
    }
    double clamp(double v) const { return std::min(std::max(v, lo), hi); }
    double slack() const { return 1e-9 * std::max(std::fabs(lo), std::fabs(hi)); }
    bool holds(double v) const { return v >= lo - slack() && v <= hi + slack(); }

    // --amount: move a stored value towards the range's neutral value
    double at_amount(double v, double amount, AmountMode mode) const {
        switch (mode) {
            case AmountMode::Lerp: return neutral + amount * (v - neutral);
            case AmountMode::LogLerp:
                return std::exp(std::log(neutral) + amount * (std::log(v) - std::log(neutral)));
            case AmountMode::Keep: break;
        }
        return v;
    }
};

namespace ranges {
inline constexpr Range trim_db{-24.0, 24.0, 0.0, false};
inline constexpr Range hp_cutoff_hz{10.0, 1000.0, 10.0, true};
inline constexpr Range shelf_low_hz{60.0, 1000.0, 200.0, true};
inline constexpr Range shelf_high_hz{800.0, 12000.0, 3000.0, true};
inline constexpr Range peak_hz{100.0, 8000.0, 800.0, true};
inline constexpr Range gain_db{-18.0, 18.0, 0.0, false};
inline constexpr Range q{0.3, 6.0, 0.707, true};
inline constexpr Range drive_db{-24.0, 54.0, -24.0, false};
inline constexpr Range bias{-0.9, 0.9, 0.0, false};
inline constexpr Range threshold_db{-70.0, 0.0, 0.0, false};
inline constexpr Range ratio{1.0, 20.0, 1.0, true};
inline constexpr Range attack_ms{0.3, 200.0, 10.0, true};
inline constexpr Range release_ms{5.0, 2000.0, 100.0, true};
inline constexpr Range cab_band_db{-40.0, 30.0, 0.0, false};
inline constexpr Range ceiling_db{-60.0, 24.0, 24.0, false};
inline constexpr Range out_gain_db{-60.0, 60.0, 0.0, false};
inline constexpr Range input_gain_db{-120.0, 120.0, 0.0, false};
}  // namespace ranges

// Host-side knobs, in the CLI's units (amount 0..1; the plugin shows percent).
struct Knobs {
    double amount = 1.0;
    double drive_db = 0.0;
    double tone_db = 0.0;
    double level_db = 0.0;
    // whether the loudness is compensated (model.Knobs.compensated): amount < 1 or drive moved
    bool compensated() const { return amount < 1.0 || drive_db != 0.0; }
};

inline double db_to_gain(double db) { return std::pow(10.0, db / 20.0); }

}  // namespace tonemorph
