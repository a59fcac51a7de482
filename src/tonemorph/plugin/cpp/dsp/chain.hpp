// One tone at one host rate and --amount, for up to kMaxChannels channels: the stages in
// chain order (mirror of FastChain). Built off the audio thread (it allocates); `process`
// does not allocate. The drive, tone and level knobs move on the audio thread (cheap
// coefficient updates, smoothed); --amount redesigns the cabinet, so it builds a new Chain.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "stages/cab.hpp"
#include "stages/drive.hpp"
#include "stages/dynamics.hpp"
#include "stages/eq.hpp"
#include "stages/gain.hpp"
#include "stages/limit.hpp"
#include "tone.hpp"

namespace tonemorph {

constexpr int kMaxChannels = 2;
constexpr double kTiltHz = 1000.0;  // pivot of the tone knob's tilt (model.TILT_HZ)

struct ChannelStages {
    GainStage trim;
    BiquadCascade pre_eq;
    Compressor sag;
    Shaper drive;
    BiquadCascade post_eq;  // post-EQ bands, then the two tilt shelves
    std::unique_ptr<PartitionedFir> cab;
    Compressor comp;
    PeakLimit limit;
    GainStage output;
};

// The knobs the audio thread applies without rebuilding (dB; smoothed by the engine).
struct LiveKnobs {
    double drive_db = 0, tone_db = 0, out_extra_db = 0;  // out_extra: level + compensation
    bool operator==(const LiveKnobs& o) const {
        return drive_db == o.drive_db && tone_db == o.tone_db && out_extra_db == o.out_extra_db;
    }
    bool operator!=(const LiveKnobs& o) const { return !(*this == o); }
};

class Chain {
  public:
    Chain(const Tone& tone, double amount, double sample_rate, int channels);
    // A chain that passes audio unchanged (no tone loaded, or the tone file was refused).
    static std::unique_ptr<Chain> passthrough(double sample_rate, int channels);

    void set_live(const LiveKnobs& k);  // RT-safe: recomputes coefficients in place
    void snap();                         // jump gain ramps to their targets
    void process(int channel, float* x, int n);
    void reset();
    void adopt(const Chain& o);  // continue o's signal state (same tone structure)

    int latency_samples() const { return latency_; }
    double amount() const { return amount_; }
    const LiveKnobs& live() const { return live_; }
    std::shared_ptr<const Tone> tone_ptr;  // kept alive while the chain runs (set by owner)

  private:
    bool passthrough_ = false;
    bool has_pre_eq_, has_sag_, has_drive_, has_post_eq_, has_cab_, has_comp_, has_limit_;
    int channels_, latency_, n_post_eq_bands_ = 0;
    double amount_, sample_rate_;
    double base_drive_db_ = 0, bias_ = 0, base_out_db_ = 0;
    LiveKnobs live_;
    ChannelStages ch_[kMaxChannels];
};

}  // namespace tonemorph
