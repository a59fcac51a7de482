#include "chain.hpp"

#include <cmath>

namespace tonemorph {

namespace {
double settled(const std::map<std::string, double>& v, const std::string& key) {
    return param_rule(key)->range.settle(v.at(key));
}

void add_eq(BiquadCascade& c, const std::map<std::string, double>& v, const std::string& st,
            bool with_hp, double sr) {
    if (with_hp)
        c.add(rbj_design(BiquadKind::Highpass, settled(v, st + ".hp_hz"), 0.0, 0.707, sr));
    c.add(rbj_design(BiquadKind::LowShelf, settled(v, st + ".low_hz"), settled(v, st + ".low_db"),
                     0.707, sr));
    c.add(rbj_design(BiquadKind::Peaking, settled(v, st + ".mid_hz"), settled(v, st + ".mid_db"),
                     settled(v, st + ".mid_q"), sr));
    c.add(rbj_design(BiquadKind::HighShelf, settled(v, st + ".high_hz"),
                     settled(v, st + ".high_db"), 0.707, sr));
}

void design_dyn(Compressor& c, const std::map<std::string, double>& v, const std::string& st,
                double sr) {
    c.design(sr, settled(v, st + ".threshold_db"), settled(v, st + ".ratio"),
             settled(v, st + ".attack_ms"), settled(v, st + ".release_ms"));
}
}  // namespace

Chain::Chain(const Tone& tone, double amount, double sample_rate, int channels)
    : has_pre_eq_(tone.has("pre_eq")), has_sag_(tone.has("sag")), has_drive_(tone.has("drive")),
      has_post_eq_(tone.has("post_eq")), has_cab_(tone.has("cab")), has_comp_(tone.has("comp")),
      has_limit_(tone.has("limit")),
      channels_(channels), latency_(tone.latency_samples(sample_rate)), amount_(amount),
      sample_rate_(sample_rate) {
    const auto v = tone.at_amount(amount);
    std::vector<double> ir;
    if (has_cab_) ir = cab_ir(tone.cab_at_amount(amount), tone.cab_taps, tone.cab_fft, sample_rate);
    const double trim = db_to_gain(settled(v, "trim_db")) * db_to_gain(tone.input_gain_db);
    base_out_db_ = v.at("out_gain_db");
    if (has_drive_) base_drive_db_ = v.at("drive.drive_db"), bias_ = settled(v, "drive.bias");
    for (int c = 0; c < channels_; ++c) {
        ChannelStages& s = ch_[c];
        s.trim.set(trim);
        if (has_pre_eq_) add_eq(s.pre_eq, v, "pre_eq", true, sample_rate);
        if (has_sag_) design_dyn(s.sag, v, "sag", sample_rate);
        if (has_post_eq_) add_eq(s.post_eq, v, "post_eq", false, sample_rate);
        n_post_eq_bands_ = s.post_eq.n_sections;
        s.post_eq.add(Sos{});  // tilt shelves, identity until the tone knob moves
        s.post_eq.add(Sos{});
        if (has_cab_) s.cab = std::make_unique<PartitionedFir>(ir);
        if (has_comp_) design_dyn(s.comp, v, "comp", sample_rate);
        if (has_limit_) s.limit.design(sample_rate, settled(v, "limit.ceiling_db"));
    }
    set_live(LiveKnobs{});
    snap();
}

std::unique_ptr<Chain> Chain::passthrough(double sample_rate, int channels) {
    Tone empty;
    empty.scalars = {{"trim_db", 0.0}, {"out_gain_db", 0.0}};
    auto c = std::make_unique<Chain>(empty, 1.0, sample_rate, channels);
    c->passthrough_ = true;
    return c;
}

void Chain::set_live(const LiveKnobs& k) {
    live_ = k;
    Sos lo{}, hi{};
    if (k.tone_db != 0.0) {  // Tone._tilt_sos: opposite shelves around 1 kHz
        lo = rbj_design(BiquadKind::LowShelf, kTiltHz, -k.tone_db / 2, 0.5, sample_rate_);
        hi = rbj_design(BiquadKind::HighShelf, kTiltHz, k.tone_db / 2, 0.5, sample_rate_);
    }
    // Level and its loudness compensation play after the output gain, outside its range
    // (Tone.fast_chain): added into it, part of a high Level was held off
    const double out_db = ranges::out_gain_db.settle(base_out_db_);
    double drive_db = base_drive_db_;
    if (k.drive_db != 0.0) drive_db = ranges::drive_db.clamp(base_drive_db_ + k.drive_db);
    drive_db = ranges::drive_db.settle(drive_db);
    for (int c = 0; c < channels_; ++c) {
        ChannelStages& s = ch_[c];
        s.post_eq.sos[n_post_eq_bands_] = lo;
        s.post_eq.sos[n_post_eq_bands_ + 1] = hi;
        s.post_eq.set_active(n_post_eq_bands_ + (k.tone_db != 0.0 ? 2 : 0));  // 0 dB: identity
        s.output.set(db_to_gain(out_db) * db_to_gain(k.out_extra_db));
        if (has_drive_) s.drive.set(db_to_gain(drive_db), bias_);
    }
}

void Chain::snap() {
    for (int c = 0; c < channels_; ++c) ch_[c].trim.snap(), ch_[c].output.snap();
}

void Chain::process(int channel, float* x, int n) {
    if (passthrough_) return;
    ChannelStages& s = ch_[channel];
    s.trim.process(x, n);
    if (has_pre_eq_) s.pre_eq.process(x, n);
    if (has_sag_) s.sag.process(x, n);
    if (has_drive_) s.drive.process(x, n);
    s.post_eq.process(x, n);
    if (has_cab_) s.cab->process(x, n);
    if (has_comp_) s.comp.process(x, n);
    if (has_limit_) s.limit.process(x, n);
    s.output.process(x, n);
}

void Chain::reset() {
    for (int c = 0; c < channels_; ++c) {
        ChannelStages& s = ch_[c];
        s.pre_eq.reset(), s.sag.reset(), s.drive.reset(), s.post_eq.reset(), s.comp.reset();
        s.limit.reset();
        if (s.cab) s.cab->reset();
    }
}

void Chain::adopt(const Chain& o) {
    for (int c = 0; c < channels_ && c < o.channels_; ++c) {
        ChannelStages& s = ch_[c];
        const ChannelStages& t = o.ch_[c];
        s.pre_eq.adopt(t.pre_eq), s.sag.adopt(t.sag), s.drive.adopt(t.drive);
        s.post_eq.adopt(t.post_eq), s.comp.adopt(t.comp), s.limit.adopt(t.limit);
        if (s.cab && t.cab) s.cab->adopt(*t.cab);
    }
}

}  // namespace tonemorph
