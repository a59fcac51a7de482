// Proves Engine::run allocates nothing: every malloc/new/free on the calling thread is
// counted while run() executes, across block sizes 1..8192, stereo, knob automation, an
// --amount rebuild, a tone swap with crossfade, bypass toggles and a NaN burst.
//   alloc_test TONE_A TONE_B   -> prints "allocations in run(): N", exit 1 when N > 0
#include <cmath>
#include <cstdio>
#include <memory>
#include <vector>

#include "../dsp/engine.hpp"
#include "alloc_hook.hpp"

using namespace tonemorph;

namespace {
std::unique_ptr<Chain> make_chain(const std::shared_ptr<const Tone>& t, double amount) {
    auto c = std::make_unique<Chain>(*t, amount, 48000.0, 2);
    c->tone_ptr = t;
    return c;
}
}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: alloc_test TONE_A TONE_B\n");
        return 2;
    }
    {  // the hook must see a plain allocation, or a zero below would prove nothing
        alloc_watch = true;
        std::vector<float>* probe = new std::vector<float>(16);
        delete probe;
        alloc_watch = false;
        if (alloc_count.exchange(0) < 2) {
            std::printf("the allocation hook does not count\n");
            return 1;
        }
    }
    auto a = std::make_shared<const Tone>(load_tone(argv[1]));
    auto b = std::make_shared<const Tone>(load_tone(argv[2]));
    Engine engine(48000.0, 2);
    engine.install_now(make_chain(a, 1.0));
    std::vector<float> l(8192), r(8192), ol(8192), orr(8192);
    long calls = 0, samples = 0;
    const int blocks[] = {1, 64, 65, 512, 4096, 8192, 32, 7};
    for (int round = 0; round < 40; ++round) {
        const int n = blocks[round % 8];
        for (int i = 0; i < n; ++i) {
            l[i] = 0.3f * std::sin(0.01f * float(samples + i));
            r[i] = 0.2f * std::sin(0.013f * float(samples + i));
        }
        if (round == 20) l[n / 2] = NAN;  // the guard mutes, clears and recovers
        // worker-side work happens outside the watched region, as on the worker thread
        if (round == 10) engine.offer(make_chain(a, 0.5));   // --amount moved
        if (round == 25) engine.offer(make_chain(b, 1.0));   // a new tone
        if (round == 30) engine.offer(Chain::passthrough(48000.0, 2));  // a bad file
        engine.set_knobs(0.2 * round - 4.0, 0.1 * round - 2.0, -0.1 * round);
        engine.set_compensation_db(0.05 * round);
        engine.set_bypass(round % 7 == 3);
        const float* in[2] = {l.data(), r.data()};
        float* out[2] = {ol.data(), orr.data()};
        alloc_watch = true;
        engine.run(in, out, n);
        alloc_watch = false;
        engine.collect();
        ++calls;
        samples += n;
        for (int i = 0; i < n; ++i)
            if (!std::isfinite(ol[i]) || !std::isfinite(orr[i])) {
                std::printf("non-finite output after %ld samples\n", samples);
                return 1;
            }
    }
    const long count = alloc_count.load();
    std::printf("allocations in run(): %ld over %ld calls, %ld samples, %u muted steps\n", count,
                calls, samples, engine.faults());
    return count == 0 && engine.faults() > 0 ? 0 : 1;
}
