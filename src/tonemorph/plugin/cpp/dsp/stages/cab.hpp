// Cabinet stage: a minimum-phase FIR designed at the host rate from the tone's log-spaced band
// curve (mirror of Cab.ir), run with no block latency: the first kPart taps direct, the rest
// as a uniformly partitioned FFT convolution whose one-partition delay the head covers.
#pragma once

#include <vector>

#include <kiss_fftr.h>

namespace tonemorph {

// Minimum-phase IR (n_taps, float64) from band gains (dB) at log-spaced centres 30 Hz..20 kHz,
// interpolated on the rfft grid of n_fft at sample_rate (Hz).
std::vector<double> cab_ir(const std::vector<double>& band_db, int n_taps, int n_fft,
                           double sample_rate);

class PartitionedFir {
  public:
    static constexpr int kPart = 64;  // head taps and partition size (samples)

    explicit PartitionedFir(const std::vector<double>& ir);
    ~PartitionedFir();
    PartitionedFir(const PartitionedFir&) = delete;
    PartitionedFir& operator=(const PartitionedFir&) = delete;

    void process(float* x, int n);  // in place, any n, no allocation
    void reset();
    void adopt(const PartitionedFir& o);  // take o's input history (same sizes only)

  private:
    void convolve_head(float* x, int n);
    void tail_step();
    static void split(const kiss_fft_cpx* in, float* out);

    int n_head_ = 0, n_parts_ = 0, fill_ = 0, fdl_pos_ = 0;
    std::vector<float> head_;        // head taps
    std::vector<float> xbuf_;        // kPart - 1 history + the partition being filled
    std::vector<float> prev_;        // the partition before
    std::vector<float> tail_out_;    // tail contribution to the partition being filled
    std::vector<float> time_;        // FFT scratch (2 kPart)
    // spectra stored split (real parts, then imaginary parts, kBins each) so that the
    // multiply-accumulate over partitions vectorises
    static constexpr int kBins = kPart + 1;
    std::vector<float> hspec_;         // n_parts_ x 2 kBins: tail partition spectra
    std::vector<float> fdl_;           // n_parts_ x 2 kBins: past input spectra
    std::vector<float> acc_;           // 2 kBins
    std::vector<kiss_fft_cpx> spec_;   // kBins, kissfft's interleaved layout
    kiss_fftr_cfg fwd_ = nullptr, inv_ = nullptr;
};

}  // namespace tonemorph
