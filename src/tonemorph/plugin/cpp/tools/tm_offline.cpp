// Offline runner of the plugin's DSP core, for tests and the benchmark: reads a `.tmodel`,
// runs planar float32 audio (channels x samples, raw) through the Engine in host-sized blocks
// exactly as the plugin does (latency kept, as a host sees it) and writes the result.
//
//   tm_offline --model M --rate HZ --channels C --block N [--amount A --drive DB --tone DB
//              --level DB] [--comp take|reference|<dB>] --in IN.f32 --out OUT.f32
//              [--swap M2 --swap-at SAMPLE] [--print-compensation] [--bench SECONDS]
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "../dsp/compensation.hpp"
#include "../dsp/engine.hpp"

using namespace tonemorph;

namespace {
struct Args {
    std::string model, in, out, comp = "take", swap;
    double rate = 48000, bench_s = 0;
    int channels = 1, block = 512;
    long swap_at = -1;
    bool print_comp = false;
    Knobs knobs;
};

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        std::string k = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc) throw std::runtime_error(k + " needs a value");
            return argv[++i];
        };
        if (k == "--model") a.model = val();
        else if (k == "--in") a.in = val();
        else if (k == "--out") a.out = val();
        else if (k == "--rate") a.rate = std::stod(val());
        else if (k == "--channels") a.channels = std::stoi(val());
        else if (k == "--block") a.block = std::stoi(val());
        else if (k == "--amount") a.knobs.amount = std::stod(val());
        else if (k == "--drive") a.knobs.drive_db = std::stod(val());
        else if (k == "--tone") a.knobs.tone_db = std::stod(val());
        else if (k == "--level") a.knobs.level_db = std::stod(val());
        else if (k == "--comp") a.comp = val();
        else if (k == "--swap") a.swap = val();
        else if (k == "--swap-at") a.swap_at = std::stol(val());
        else if (k == "--print-compensation") a.print_comp = true;
        else if (k == "--bench") a.bench_s = std::stod(val());
        else throw std::runtime_error("unknown option " + k);
    }
    if (a.channels < 1 || a.channels > kMaxChannels) throw std::runtime_error("--channels is 1 or 2");
    if (a.block < 1) throw std::runtime_error("--block must be >= 1");
    return a;
}

std::vector<float> read_f32(const std::string& path) {
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    if (!f) throw std::runtime_error("cannot read " + path);
    std::vector<float> v(static_cast<size_t>(f.tellg()) / sizeof(float));
    f.seekg(0);
    f.read(reinterpret_cast<char*>(v.data()), v.size() * sizeof(float));
    return v;
}

// The chain for a tone file at these knobs, or a pass-through when the file is refused.
std::unique_ptr<Chain> build(const std::string& path, const Args& a,
                             std::shared_ptr<const Tone>* tone_out) {
    try {
        auto tone = std::make_shared<const Tone>(load_tone(path));
        auto chain = std::make_unique<Chain>(*tone, a.knobs.amount, a.rate, a.channels);
        chain->tone_ptr = tone;
        *tone_out = tone;
        return chain;
    } catch (const ModelError& e) {
        std::cerr << "tonemorph: " << e.what() << " (audio passes through)\n";
        return Chain::passthrough(a.rate, a.channels);
    }
}

double compensation(const Args& a, const Tone& tone, const std::vector<float>& planar, size_t n) {
    if (a.comp == "take") {  // as the CLI: the first 30 s of the take, channels averaged
        size_t m = std::min(n, static_cast<size_t>(30 * a.rate));
        std::vector<float> mono(m, 0.0f);
        for (size_t i = 0; i < m; ++i) {
            float s = 0.0f;
            for (int c = 0; c < a.channels; ++c) s += planar[c * n + i];
            mono[i] = s / a.channels;
        }
        return compensation_db(tone, a.knobs, a.rate, mono);
    }
    if (a.comp == "reference") return compensation_db(tone, a.knobs, a.rate, reference_excerpt(tone, a.rate));
    return std::stod(a.comp);
}

int bench(const Args& a, Engine& engine) {
    const size_t n = static_cast<size_t>(a.bench_s * a.rate);
    std::vector<float> x(n);
    std::mt19937 rng(1);
    std::normal_distribution<float> g(0.0f, 0.1f);
    for (auto& v : x) v = g(rng);
    std::vector<float> y(a.block);
    // CPU time of this process: the figure per core, whatever else the machine runs
    const std::clock_t t0 = std::clock();
    for (size_t i = 0; i + a.block <= n; i += a.block) {
        const float* in[1] = {x.data() + i};
        float* out[1] = {y.data()};
        engine.run(in, out, a.block);
    }
    const double s = double(std::clock() - t0) / CLOCKS_PER_SEC;
    std::printf("%.1f\n", (n / a.rate) / s);
    return 0;
}
}  // namespace

int main(int argc, char** argv) {
    try {
        Args a = parse(argc, argv);
        std::shared_ptr<const Tone> tone;
        auto chain = build(a.model, a, &tone);
        Engine engine(a.rate, a.channels);
        engine.set_knobs(a.knobs.drive_db, a.knobs.tone_db, a.knobs.level_db);
        if (a.bench_s > 0) {
            engine.install_now(std::move(chain));
            return bench(a, engine);
        }
        std::vector<float> planar = read_f32(a.in);
        const size_t n = planar.size() / a.channels;
        if (tone) {
            const double comp = compensation(a, *tone, planar, n);
            engine.set_compensation_db(comp);
            if (a.print_comp) std::printf("%.9f\n", comp);
        }
        engine.install_now(std::move(chain));
        std::vector<float> out(planar.size());
        for (size_t i = 0; i < n; i += a.block) {
            const int m = static_cast<int>(std::min<size_t>(a.block, n - i));
            if (!a.swap.empty() && a.swap_at >= static_cast<long>(i) &&
                a.swap_at < static_cast<long>(i + m)) {
                std::shared_ptr<const Tone> t2;
                engine.offer(build(a.swap, a, &t2));
            }
            const float* in[kMaxChannels];
            float* o[kMaxChannels];
            for (int c = 0; c < a.channels; ++c) in[c] = &planar[c * n + i], o[c] = &out[c * n + i];
            engine.run(in, o, m);
            engine.collect();
        }
        if (engine.faults()) std::cerr << "tonemorph: muted " << engine.faults() << " non-finite steps\n";
        std::ofstream f(a.out, std::ios::binary);
        f.write(reinterpret_cast<const char*>(out.data()), out.size() * sizeof(float));
        return f ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "tm_offline: " << e.what() << "\n";
        return 2;
    }
}
