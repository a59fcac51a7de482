#include "tone.hpp"

#include "stages/limit.hpp"

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace tonemorph {
namespace {

using json = nlohmann::json;
constexpr const char* kFix = "re-learn the tone or fix the file";

std::vector<ParamRule> build_rules() {
    using namespace ranges;
    using A = AmountMode;
    std::vector<ParamRule> r = {{"trim_db", "", trim_db, A::Lerp, false}};
    auto eq = [&](const std::string& st, bool with_hp) {
        // the high-pass fades to its neutral 10 Hz; shelves and peak keep their corner
        if (with_hp) r.push_back({st + ".hp_hz", st, hp_cutoff_hz, A::LogLerp, true});
        r.push_back({st + ".low_hz", st, shelf_low_hz, A::Keep, true});
        r.push_back({st + ".low_db", st, gain_db, A::Lerp, false});
        r.push_back({st + ".mid_hz", st, peak_hz, A::Keep, true});
        r.push_back({st + ".mid_db", st, gain_db, A::Lerp, false});
        r.push_back({st + ".mid_q", st, q, A::Keep, false});
        r.push_back({st + ".high_hz", st, shelf_high_hz, A::Keep, true});
        r.push_back({st + ".high_db", st, gain_db, A::Lerp, false});
    };
    auto dyn = [&](const std::string& st) {  // only the ratio fades out with --amount
        r.push_back({st + ".threshold_db", st, threshold_db, A::Keep, false});
        r.push_back({st + ".ratio", st, ratio, A::LogLerp, false});
        r.push_back({st + ".attack_ms", st, attack_ms, A::Keep, false});
        r.push_back({st + ".release_ms", st, release_ms, A::Keep, false});
    };
    eq("pre_eq", true);
    dyn("sag");
    r.push_back({"drive.drive_db", "drive", drive_db, A::Lerp, false});
    r.push_back({"drive.bias", "drive", bias, A::Lerp, false});
    eq("post_eq", false);
    dyn("comp");
    r.push_back({"limit.ceiling_db", "limit", ceiling_db, A::Lerp, false});
    r.push_back({"out_gain_db", "", out_gain_db, A::Lerp, false});
    return r;
}

std::string describe(const json& v) {
    std::string s = v.dump();
    return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}

[[noreturn]] void fail(const std::string& source, const std::string& where,
                       const std::string& what) {
    throw ModelError(source + ": " + where + " " + what + "; " + kFix);
}

double number(const json& v, const std::string& source, const std::string& where) {
    if (!v.is_number() || v.is_boolean()) fail(source, where, "is " + describe(v) + ", not a number");
    double x = v.get<double>();
    if (!std::isfinite(x)) fail(source, where, "is not finite");
    return x;
}

int integer(const json& doc, const char* key, int lo, int hi, const std::string& source) {
    std::string where = std::string("chain.") + key;
    if (!doc.contains(key)) fail(source, where, "is missing");
    const json& v = doc[key];
    if (!v.is_number_integer()) fail(source, where, "is " + describe(v) + ", not an integer");
    long long x = v.get<long long>();
    if (x < lo || x > hi)
        fail(source, where, "is " + std::to_string(x) + ", outside " + std::to_string(lo) + ".." +
                                std::to_string(hi));
    return static_cast<int>(x);
}

void check_range(double x, const Range& r, const std::string& source, const std::string& where) {
    if (!r.holds(x)) {
        std::ostringstream os;
        os << "is " << x << ", outside " << r.lo << ".." << r.hi;
        fail(source, where, os.str());
    }
}

}  // namespace

const std::vector<ParamRule>& param_rules() {
    static const std::vector<ParamRule> rules = build_rules();
    return rules;
}

const ParamRule* param_rule(const std::string& key) {
    for (auto& r : param_rules())
        if (key == r.key) return &r;
    return nullptr;
}

bool Tone::has(const std::string& stage) const {
    for (auto& s : stages)
        if (s == stage) return true;
    return false;
}

int Tone::latency_samples(double sample_rate) const {
    // the shaper's oversampling FIRs ((47 taps - 1) / 2), the peak limit's look-ahead - 1
    return (has("drive") ? 23 : 0) + (has("limit") ? limit_lookahead(sample_rate) - 1 : 0);
}

std::map<std::string, double> Tone::at_amount(double amount) const {
    std::map<std::string, double> out;
    for (auto& [key, v] : scalars) {
        const ParamRule* r = param_rule(key);
        out[key] = r->range.at_amount(v, amount, r->amount);
    }
    return out;
}

std::vector<double> Tone::cab_at_amount(double amount) const {
    std::vector<double> out(cab_band_db);
    for (auto& v : out) v = ranges::cab_band_db.at_amount(v, amount, AmountMode::Lerp);
    return out;
}

Tone parse_tone(const std::string& text, const std::string& source) {
    json doc;
    try {
        doc = json::parse(text);
    } catch (const json::exception& e) {
        throw ModelError(source + " is not JSON (" + std::string(e.what()).substr(0, 80) +
                         "); pick a .tmodel file written by `tonemorph learn`");
    }
    if (!doc.is_object() || !doc.contains("kind") || doc["kind"] != "tone")
        throw ModelError(source + " holds no tone (kind is " +
                         (doc.is_object() && doc.contains("kind") ? describe(doc["kind"]) : "missing") +
                         "); use a file written by `tonemorph learn`");
    Tone t;
    if (!doc.contains("chain") || !doc["chain"].is_object()) fail(source, "chain", "is missing");
    const json& c = doc["chain"];
    static const std::set<std::string> chain_keys = {"stages", "sample_rate", "cab_taps",
                                                     "cab_bands", "cab_fft", "cab_band_hz"};
    for (auto it = c.begin(); it != c.end(); ++it)
        if (!chain_keys.count(it.key()))
            fail(source, "chain." + it.key(), "is unknown (written by a newer tonemorph? upgrade it)");
    if (!c.contains("stages") || !c["stages"].is_array()) fail(source, "chain.stages", "is missing");
    std::vector<std::string> named;
    for (auto& s : c["stages"]) {
        if (!s.is_string()) fail(source, "chain.stages", "holds " + describe(s) + ", not a name");
        named.push_back(s.get<std::string>());
    }
    for (auto& s : named) {
        bool known = false;
        for (auto* k : kStageNames) known |= s == k;
        if (!known) fail(source, "chain.stages", "names an unknown stage " + describe(s));
    }
    for (auto* k : kStageNames)  // keep processing order
        for (auto& s : named)
            if (s == k) t.stages.push_back(s);
    if (t.stages.size() != named.size()) fail(source, "chain.stages", "names a stage twice");
    t.learn_rate_hz = integer(c, "sample_rate", 8000, 384000, source);
    t.cab_taps = integer(c, "cab_taps", 16, 32768, source);
    t.cab_bands = integer(c, "cab_bands", 2, 256, source);
    t.cab_fft = integer(c, "cab_fft", 256, 65536, source);
    if (t.cab_fft & (t.cab_fft - 1)) fail(source, "chain.cab_fft", "is not a power of two");
    if (t.cab_taps > t.cab_fft) fail(source, "chain.cab_taps", "is larger than chain.cab_fft");
    if (!doc.contains("input_gain_db")) fail(source, "input_gain_db", "is missing");
    t.input_gain_db = number(doc["input_gain_db"], source, "input_gain_db");
    check_range(t.input_gain_db, ranges::input_gain_db, source, "input_gain_db");

    if (!doc.contains("parameters") || !doc["parameters"].is_object())
        fail(source, "parameters", "is missing");
    const json& p = doc["parameters"];
    std::set<std::string> expected;
    for (auto& r : param_rules()) {
        if (!r.stage.empty() && !t.has(r.stage)) continue;
        expected.insert(r.key);
        std::string where = "parameters." + r.key;
        if (!p.contains(r.key)) fail(source, where, "is missing (its stage is in chain.stages)");
        double x = number(p[r.key], source, where);
        check_range(x, r.range, source, where);
        if (r.is_hz && x >= t.learn_rate_hz / 2.0)
            fail(source, where, "is not below half the sample rate");
        t.scalars[r.key] = x;
    }
    if (t.has("cab")) {
        expected.insert("cab.band_db");
        if (!p.contains("cab.band_db") || !p["cab.band_db"].is_array() ||
            p["cab.band_db"].size() != static_cast<size_t>(t.cab_bands))
            fail(source, "parameters.cab.band_db", "is not a list of chain.cab_bands numbers");
        int i = 0;
        for (auto& v : p["cab.band_db"]) {
            std::string where = "parameters.cab.band_db[" + std::to_string(i++) + "]";
            double x = number(v, source, where);
            check_range(x, ranges::cab_band_db, source, where);
            t.cab_band_db.push_back(x);
        }
    }
    for (auto it = p.begin(); it != p.end(); ++it)
        if (!expected.count(it.key()))
            fail(source, "parameters." + it.key(),
                 "is unknown (a parameter of a stage not in chain.stages, or misspelt)");
    t.name = source;
    return t;
}

Tone load_tone(const std::string& path, std::string* text_out) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw ModelError("cannot read " + path + "; check the path");
    std::ostringstream ss;
    ss << f.rdbuf();
    std::string text = ss.str();
    Tone t = parse_tone(text, path);
    if (text_out) *text_out = std::move(text);
    return t;
}

}  // namespace tonemorph
