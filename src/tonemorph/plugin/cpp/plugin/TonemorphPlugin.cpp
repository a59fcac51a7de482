// The DPF plugin: host parameters and state around the Engine (audio thread) and the
// Controller (worker thread). run() only copies knob values into atomics and calls the
// Engine; files, parsing and filter design happen on the worker or in activate().
#include "DistrhoPlugin.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "../dsp/controller.hpp"

#if TONEMORPH_EMBEDDED
#include "tonemorph_embedded.h"  // TONEMORPH_EMBEDDED_DOCUMENT, TONEMORPH_EMBEDDED_SOURCE
#endif

START_NAMESPACE_DISTRHO

namespace {
enum Param : uint32_t { kAmount, kDrive, kTone, kLevel, kBypass, kParamCount };
#if TONEMORPH_EMBEDDED
constexpr uint32_t kStateCount = 0;
#else
enum StateIndex : uint32_t { kStateModel, kStateDocument, kStateCount };
#endif
}  // namespace

class TonemorphPlugin : public Plugin {
  public:
    TonemorphPlugin() : Plugin(kParamCount, 0, kStateCount) { create(getSampleRate()); }
    ~TonemorphPlugin() override { controller_->stop(); }

  protected:
    const char* getLabel() const override { return "tonemorph"; }
    const char* getDescription() const override {
        return "Plays a guitar tone learned by tonemorph (.tmodel): EQ, sag, drive, tone stack, "
               "cabinet and compressor, as `tonemorph apply` does.";
    }
    const char* getMaker() const override { return "tonemorph"; }
    const char* getHomePage() const override { return "https://github.com/tonemorph/tonemorph"; }
    const char* getLicense() const override { return "MIT"; }
    uint32_t getVersion() const override { return d_version(0, 1, 0); }
    int64_t getUniqueId() const override { return TONEMORPH_UNIQUE_ID; }

    void initAudioPort(bool input, uint32_t index, AudioPort& port) override {
        port.groupId = kPortGroupStereo;
        Plugin::initAudioPort(input, index, port);
    }

    void initParameter(uint32_t index, Parameter& p) override {
        p.hints = kParameterIsAutomatable;
        switch (index) {
            case kAmount:
                set(p, "amount", "Amount", "%", kRanges[kAmount][0], kRanges[kAmount][1], 100);
                p.description = "How much of the learned tone: 0 % is the dry signal, loudness "
                                "compensated like `--amount`";
                break;
            case kDrive:
                set(p, "drive", "Drive", "dB", kRanges[kDrive][0], kRanges[kDrive][1], 0);
                break;
            case kTone:
                set(p, "tone", "Tone", "dB", kRanges[kTone][0], kRanges[kTone][1], 0);
                break;
            case kLevel:
                set(p, "level", "Level", "dB", kRanges[kLevel][0], kRanges[kLevel][1], 0);
                break;
            case kBypass: p.initDesignation(kParameterDesignationBypass); break;
        }
    }

    float getParameterValue(uint32_t index) const override { return values_[index]; }
    void setParameterValue(uint32_t index, float value) override {
        // held to the declared range: a host that sent Amount 1000 % played the tone's change
        // ten times over (+104 dBFS on a 0.3 sine); a non-finite value keeps the last one
        if (index >= kParamCount || !std::isfinite(value)) return;
        values_[index] = std::clamp(value, kRanges[index][0], kRanges[index][1]);
        push_knobs();
    }

#if !TONEMORPH_EMBEDDED
    void initState(uint32_t index, State& s) override {
        if (index == kStateModel) {
            s.key = "model";
            s.label = "Tone (.tmodel)";
            s.description = "A tone learned by `tonemorph learn`";
            s.hints = kStateIsFilenamePath;
        } else {
            s.key = "document";  // the tone itself, so a session opens when the file moved
            s.label = "Tone document";
            s.hints = kStateIsOnlyForDSP;
        }
    }

    String getState(const char* key) const override {
        const std::string v = std::strcmp(key, "model") == 0 ? controller_->path() : controller_->document();
        return String(v.c_str());
    }

    void setState(const char* key, const char* value) override {
        if (std::strcmp(key, "model") == 0) {
            if (*value) controller_->load_file(value);
        } else if (*value) {
            controller_->load_document(value, "the session's saved tone");
        }
    }
#endif

    void activate() override {
        controller_->build_now();
        setLatency(static_cast<uint32_t>(engine_->latency_samples()));
        engine_->reset();
    }

    void run(const float** inputs, float** outputs, uint32_t frames) override {
        engine_->set_bypass(values_[kBypass] > 0.5f);
        engine_->run(inputs, outputs, static_cast<int>(frames));
        const uint32_t latency = static_cast<uint32_t>(engine_->latency_samples());
        if (latency != reported_latency_) setLatency(reported_latency_ = latency);
    }

    void sampleRateChanged(double rate) override {
        // a new rate re-designs everything; keep the tone and the knobs
        controller_->stop();  // first: a load the worker is in the middle of lands in wanted()
        const auto [path, doc] = controller_->wanted();  // a load still pending included
        create(rate);
        if (!doc.empty()) controller_->load_document(doc, "the session's saved tone");
        if (!path.empty()) controller_->load_file(path);
    }

  private:
    static void set(Parameter& p, const char* symbol, const char* name, const char* unit,
                    float lo, float hi, float def) {
        p.symbol = symbol;
        p.name = name;
        p.unit = unit;
        p.ranges.min = lo;
        p.ranges.max = hi;
        p.ranges.def = def;
    }

    void create(double rate) {
        engine_ = std::make_unique<tonemorph::Engine>(rate, 2);
        controller_ = std::make_unique<tonemorph::Controller>(*engine_, rate, 2);
        push_knobs();
#if TONEMORPH_EMBEDDED
        controller_->load_document(TONEMORPH_EMBEDDED_DOCUMENT, TONEMORPH_EMBEDDED_SOURCE);
        controller_->build_now();
        setLatency(reported_latency_ = static_cast<uint32_t>(engine_->latency_samples()));
#endif
        controller_->start();
    }

    void push_knobs() {
        controller_->set_knobs(values_[kAmount] / 100.0, values_[kDrive], values_[kTone],
                               values_[kLevel]);
    }

    float values_[kParamCount] = {100.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    // each knob's declared range (initParameter), bypass 0..1
    static constexpr float kRanges[kParamCount][2] = {
        {0.0f, 100.0f}, {-24.0f, 24.0f}, {-12.0f, 12.0f}, {-24.0f, 24.0f}, {0.0f, 1.0f}};
    uint32_t reported_latency_ = 0;
    // the controller refers to the engine: declared after it, destroyed before it
    std::unique_ptr<tonemorph::Engine> engine_;
    std::unique_ptr<tonemorph::Controller> controller_;
};

Plugin* createPlugin() { return new TonemorphPlugin(); }

END_NAMESPACE_DISTRHO
