// A minimal LV2 host for tests (lv2apply of lilv 0.24 offers no features, and DPF's LV2
// wrapper needs options and urid:map): reads the bundle's port list from its .ttl, dlopens the
// binary and runs planar float32 audio through it in fixed blocks, counting heap calls on the
// audio thread inside run().
//
//   lv2_host BUNDLE.lv2 --rate HZ --channels 1|2 --block N --in IN.f32 --out OUT.f32
//            [--set SYMBOL=VALUE]... [--pause-at SAMPLE:MS]  (wait MS before the block holding SAMPLE)
// Prints one JSON line: {"latency": L, "allocs": N}.
#include <dlfcn.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "lv2/buf-size.h"
#include "lv2/core/lv2.h"
#include "lv2/options.h"
#include "lv2/urid.h"
#include "lv2/atom.h"
#include "alloc_hook.hpp"

namespace fs = std::filesystem;

namespace {

struct Port {
    int index;
    std::string symbol;
    bool audio, input;
    float value;
};

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot read " + path);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// Each `lv2:port [ ... ]` entry of the plugin's .ttl (DPF writes one property per line).
std::vector<Port> read_ports(const std::string& ttl) {
    std::vector<Port> ports;
    std::regex block(R"(a lv2:(Input|Output)Port, lv2:(Audio|Control)Port ;([^\]]*))");
    std::regex index(R"(lv2:index (\d+))"), symbol(R"(lv2:symbol \"([^\"]+)\")"),
        def(R"(lv2:default ([-0-9.eE]+))");
    for (std::sregex_iterator it(ttl.begin(), ttl.end(), block), end; it != end; ++it) {
        const std::string body = (*it)[3];
        std::smatch m;
        Port p{-1, "", (*it)[2] == "Audio", (*it)[1] == "Input", 0.0f};
        if (std::regex_search(body, m, index)) p.index = std::stoi(m[1]);
        if (std::regex_search(body, m, symbol)) p.symbol = m[1];
        if (std::regex_search(body, m, def)) p.value = std::stof(m[1]);
        ports.push_back(p);
    }
    return ports;
}

std::vector<std::string> g_uris;
LV2_URID map_uri(LV2_URID_Map_Handle, const char* uri) {
    for (size_t i = 0; i < g_uris.size(); ++i)
        if (g_uris[i] == uri) return static_cast<LV2_URID>(i + 1);
    g_uris.push_back(uri);
    return static_cast<LV2_URID>(g_uris.size());
}

}  // namespace

int main(int argc, char** argv) {
    try {
        if (argc < 2) throw std::runtime_error("usage: lv2_host BUNDLE.lv2 [options]");
        const fs::path bundle = argv[1];
        double rate = 48000;
        int channels = 1, block = 512;
        std::string in_path, out_path;
        std::map<std::string, float> sets;
        long pause_at = -1;
        double pause_ms = 0;
        for (int i = 2; i + 1 < argc; i += 2) {
            std::string k = argv[i], v = argv[i + 1];
            if (k == "--rate") rate = std::stod(v);
            else if (k == "--channels") channels = std::stoi(v);
            else if (k == "--block") block = std::stoi(v);
            else if (k == "--in") in_path = v;
            else if (k == "--out") out_path = v;
            else if (k == "--set") sets[v.substr(0, v.find('='))] = std::stof(v.substr(v.find('=') + 1));
            else if (k == "--pause-at") {  // real time passes here, as between a DAW's callbacks
                pause_at = std::stol(v.substr(0, v.find(':')));
                pause_ms = std::stod(v.substr(v.find(':') + 1));
            }
            else throw std::runtime_error("unknown option " + k);
        }
        const std::string name = bundle.filename().replace_extension("").string();
        std::vector<Port> ports = read_ports(read_file((bundle / (name + ".ttl")).string()));
        for (auto& p : ports)
            if (sets.count(p.symbol)) p.value = sets[p.symbol];

        void* lib = dlopen((bundle / (name + ".so")).c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!lib) throw std::runtime_error(std::string("dlopen: ") + dlerror());
        auto descriptor_fn = reinterpret_cast<LV2_Descriptor_Function>(dlsym(lib, "lv2_descriptor"));
        const LV2_Descriptor* desc = descriptor_fn(0);

        LV2_URID_Map map{nullptr, map_uri};
        const int32_t block32 = block, max32 = std::max(block, 32);
        const float rate_f = static_cast<float>(rate);
        const LV2_URID atom_int = map_uri(nullptr, LV2_ATOM__Int), atom_float = map_uri(nullptr, LV2_ATOM__Float);
        LV2_Options_Option options[] = {
            {LV2_OPTIONS_INSTANCE, 0, map_uri(nullptr, LV2_BUF_SIZE__nominalBlockLength), sizeof(int32_t), atom_int, &block32},
            {LV2_OPTIONS_INSTANCE, 0, map_uri(nullptr, LV2_BUF_SIZE__maxBlockLength), sizeof(int32_t), atom_int, &max32},
            {LV2_OPTIONS_INSTANCE, 0, map_uri(nullptr, "http://lv2plug.in/ns/ext/parameters#sampleRate"), sizeof(float), atom_float, &rate_f},
            {LV2_OPTIONS_INSTANCE, 0, 0, 0, 0, nullptr}};
        LV2_Feature f_map{LV2_URID__map, &map}, f_opts{LV2_OPTIONS__options, options},
            f_bounded{LV2_BUF_SIZE__boundedBlockLength, nullptr};
        const LV2_Feature* features[] = {&f_map, &f_opts, &f_bounded, nullptr};
        LV2_Handle h = desc->instantiate(desc, rate, bundle.c_str(), features);
        if (!h) throw std::runtime_error("instantiate failed");

        std::string raw = read_file(in_path);
        const size_t n = raw.size() / sizeof(float) / channels;
        const float* x = reinterpret_cast<const float*>(raw.data());
        std::vector<float> y(n * channels);
        std::vector<std::vector<float>> audio(ports.size(), std::vector<float>(block));
        int ai = 0, ao = 0;
        std::vector<int> in_ports, out_ports;
        float latency = -1;
        for (size_t i = 0; i < ports.size(); ++i) {
            Port& p = ports[i];
            if (p.audio) {
                desc->connect_port(h, p.index, audio[i].data());
                (p.input ? in_ports : out_ports).push_back(static_cast<int>(i));
            } else {
                desc->connect_port(h, p.index, p.symbol == "lv2_latency" ? &latency : &p.value);
            }
        }
        (void)ai, (void)ao;
        if (desc->activate) desc->activate(h);
        long allocs = 0;
        for (size_t i = 0; i < n; i += block) {
            const uint32_t m = static_cast<uint32_t>(std::min<size_t>(block, n - i));
            if (pause_at >= long(i) && pause_at < long(i + m))
                std::this_thread::sleep_for(std::chrono::microseconds(long(pause_ms * 1000)));
            for (size_t c = 0; c < in_ports.size(); ++c)  // mono feeds both inputs
                std::memcpy(audio[in_ports[c]].data(), x + (c % channels) * n + i, m * sizeof(float));
            alloc_count.store(0);
            alloc_watch = true;
            desc->run(h, m);
            alloc_watch = false;
            allocs += alloc_count.load();
            for (int c = 0; c < channels; ++c)
                std::memcpy(&y[c * n + i], audio[out_ports[c]].data(), m * sizeof(float));
        }
        if (desc->deactivate) desc->deactivate(h);
        desc->cleanup(h);
        std::ofstream(out_path, std::ios::binary)
            .write(reinterpret_cast<const char*>(y.data()), y.size() * sizeof(float));
        std::printf("{\"latency\": %d, \"allocs\": %ld}\n", static_cast<int>(latency), allocs);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "lv2_host: %s\n", e.what());
        return 2;
    }
}
