// A `.tmodel` document read and checked (mirror of tonemorph.model.check_tone_document):
// a bad file is refused with a one-line reason, so the plugin can pass audio through and say why.
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "params.hpp"

namespace tonemorph {

struct ModelError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Stage names in processing order (tonemorph.chain.stages.CHAIN, optional stages only).
inline const char* const kStageNames[] = {"pre_eq", "sag",  "drive", "post_eq",
                                          "cab",    "comp", "limit"};

struct Tone {
    std::string name;                 // shown to the user (file stem or training target)
    std::vector<std::string> stages;  // in processing order
    int learn_rate_hz = 48000;
    int cab_taps = 2048, cab_bands = 64, cab_fft = 8192;
    double input_gain_db = 0.0;
    std::map<std::string, double> scalars;  // parameter key -> stored value (units)
    std::vector<double> cab_band_db;

    bool has(const std::string& stage) const;
    // Stored values with --amount applied (not settled): the design the worker builds from.
    std::map<std::string, double> at_amount(double amount) const;
    std::vector<double> cab_at_amount(double amount) const;
    int latency_samples(double sample_rate) const;  // of a chain at that rate (samples)
};

// Parse and check a document's text; `source` names it in the error.
Tone parse_tone(const std::string& text, const std::string& source);
// Read a file and parse it (ModelError when unreadable or invalid).
Tone load_tone(const std::string& path, std::string* text_out = nullptr);

// The range and --amount rule of a scalar parameter key (nullptr when unknown).
struct ParamRule {
    std::string key;
    std::string stage;  // "" for the trim/output every chain has
    Range range;
    AmountMode amount;
    bool is_hz;
};
const ParamRule* param_rule(const std::string& key);
const std::vector<ParamRule>& param_rules();

}  // namespace tonemorph
